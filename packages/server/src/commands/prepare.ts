import type { DnsOptions, ListenerOptions } from "@gatehouse-proxy/core/engine";
import { parseDuration } from "@gatehouse-proxy/core";
import { loadConfigSource, readConfigSource } from "../config/load.js";
import type { ConfigSource } from "../config/load.js";
import type { AuthConfig, LogConfig, PolicyConfig, StateConfig } from "../config/schema.js";
import { hostVersion } from "../plugins/host-version.js";
import { resolveProviders } from "../plugins/resolve-providers.js";
import type { ProviderPlan } from "../plugins/resolve-providers.js";
import { adminSettings } from "../wiring/admin-settings.js";
import type { AdminSettings } from "../wiring/admin-settings.js";
import { dnsSettings } from "../wiring/dns-settings.js";
import { listenerOptions } from "../wiring/pipeline-settings.js";
import type { RelayMode } from "../wiring/relay-choice.js";
import { workerCount } from "../workers/worker-count.js";

/** `shutdown_timeout` when the config does not set it. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** Everything needed to start, checked: listeners, the pipeline's config, the loaded plugins. */
export interface Prepared {
  readonly listeners: ListenerOptions[];
  readonly auth: AuthConfig | undefined;
  readonly log: LogConfig | undefined;
  /** The admin HTTP listener; undefined when off. */
  readonly admin: AdminSettings | undefined;
  /** The top-level policy; undefined = none (listeners may still have their own). */
  readonly policy?: PolicyConfig | undefined;
  /** How CONNECT host names are resolved; undefined = the defaults (hosts file, then /etc/resolv.conf's servers). */
  readonly dns?: DnsOptions | undefined;
  /** How long tunnels may drain at SIGTERM/SIGINT. */
  readonly shutdownTimeoutMs: number;
  /** The `relay` key (default auto). */
  readonly relay: RelayMode;
  /** Engine processes (`workers`; `auto` resolved to the CPU count). 1: this process serves. */
  readonly workers: number;
  readonly plans: ProviderPlan[];
  readonly configDir: string;
  /** `state`: where limits and the throttle live; undefined = memory. Read at startup. */
  readonly state?: StateConfig | undefined;
}

/** Loads and validates a config file, loading every plugin and checking its options. Throws a GatehouseError. */
export async function prepareFromFile(file: string): Promise<Prepared> {
  return prepareFromSource(await readConfigSource(file));
}

/** prepareFromFile for text already read. */
export async function prepareFromSource(source: ConfigSource): Promise<Prepared> {
  const { config, configDir } = loadConfigSource(source);
  const plans = await resolveProviders(config.auth, configDir, hostVersion());
  const dns = await dnsSettings(config.dns, configDir);
  return {
    listeners: listenerOptions(config.listeners),
    auth: config.auth,
    log: config.log,
    admin: config.admin === undefined ? undefined : await adminSettings(config.admin, configDir),
    policy: config.policy,
    dns,
    shutdownTimeoutMs:
      config.shutdown_timeout === undefined ? DEFAULT_SHUTDOWN_TIMEOUT_MS : parseDuration(config.shutdown_timeout),
    relay: config.relay ?? "auto",
    workers: workerCount(config.workers),
    plans,
    configDir,
    state: config.state,
  };
}
