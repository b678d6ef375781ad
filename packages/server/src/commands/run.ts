import { createProxyServer } from "@gatehouse-proxy/core/engine";
import { parseDuration } from "@gatehouse-proxy/core";
import type { AuthChainEntry, ProxyServer, Revoked, SharedState, SpliceBackend } from "@gatehouse-proxy/core/engine";
import {
  AuthActivity,
  DEFAULT_ADMIN_LISTEN,
  combineHooks,
  createAdminServer,
  createProxyMetrics,
  stateStoreErrorCounter,
} from "@gatehouse-proxy/observability";
import type { AdminServer, Registry } from "@gatehouse-proxy/observability";
import type { Logger as PinoLogger } from "pino";
import type { DependencyContainer } from "tsyringe";
import { closeProviders, createProviders, initProviders } from "../wiring/create-providers.js";
import type { ProviderInstance } from "../wiring/create-providers.js";
import { chainEntries, pipelineSettings } from "../wiring/pipeline-settings.js";
import { providerFingerprint } from "../wiring/provider-fingerprint.js";
import { policyRuleCount } from "../wiring/policy-summary.js";
import { formatAddress } from "../wiring/format-address.js";
import { createRootContainer, followingResolver } from "../wiring/root-container.js";
import type { Prepared } from "./prepare.js";
import type { StoreHealth } from "../state/store-health.js";
import { ProcessView } from "../operator/process-view.js";
import { ProviderHealthCheck } from "../operator/provider-health.js";
import { singleProcessOperator } from "../operator/single-process.js";

export interface Running {
  readonly server: ProxyServer;
  /** The admin listener, when configured. */
  readonly admin: AdminServer | undefined;
  /** This process's metrics (a `workers` primary aggregates the workers'). */
  readonly registry: Registry;
  /** Resolves when every provider's health() passes (what /readyz asks). */
  ready(): Promise<void>;
  /**
   * Applies a new, already validated config: new providers are created and initialised,
   * the proxy is reconfigured (established tunnels untouched, the auth pipeline's throttle
   * and the cache of unchanged providers kept), the log level follows, and the old providers
   * are closed once the logins running on them have settled. On any failure the old config
   * stays in force and the error is thrown. Reloads run one at a time.
   */
  reload(next: Prepared): Promise<void>;
  /** Ends `identity`'s tunnels here and forgets its cached logins (a revocation that reached this process). */
  revoke(identity: string): Revoked;
  /** This process's sessions, auth decisions and providers, for the operator's view. */
  readonly view: ProcessView;
  /** Stops accepting, lets tunnels drain up to `drainMs` (default 0), closes the admin listener and providers. */
  stop(options?: { readonly drainMs?: number }): Promise<void>;
}

/** How a `workers` worker runs the engine: limits and throttle in the primary, its own start line. */
export interface RunOptions {
  readonly sharedState?: SharedState;
  /** The event of the line logged once listening; default `started`. */
  readonly startedEvent?: string;
  /** The Redis state store's health, counted in this process's metrics. */
  readonly stateHealth?: StoreHealth;
  /** What POST /api/revoke does (publish to the fleet); default: revoke in this process. */
  readonly publishRevocation?: (identity: string) => Promise<void>;
  /** The `workers` worker this process is: its session ids are tagged with it. */
  readonly worker?: number;
}

/** The composition root: root container, provider instances (init in order), then the proxy. */
export async function runProxy(
  prepared: Prepared,
  logger: PinoLogger,
  splice: SpliceBackend | undefined,
  options: RunOptions = {},
): Promise<Running> {
  const proxy: { current?: ProxyServer } = {};
  const root = createRootContainer({ logger, resolver: followingResolver(prepared.dns, proxy) });
  let current = prepared;
  let instances: ProviderInstance[] = await startProviders(root, prepared, logger);
  /** Old providers waiting for their last login to settle before they are closed. */
  const closing = new Set<Promise<void>>();
  const metrics = createProxyMetrics();
  const activity = new AuthActivity();
  if (options.stateHealth !== undefined) options.stateHealth.onFailure(stateStoreErrorCounter(metrics.registry));
  let server: ProxyServer;
  try {
    server = createProxyServer({
      listeners: prepared.listeners,
      auth: { ...pipelineSettings(prepared.auth), chain: await fingerprintedChain(prepared, instances) },
      logger,
      hooks: combineHooks(metrics.hooks, activity.hooks),
      ...(splice !== undefined && { splice }),
      ...(options.sharedState !== undefined && { sharedState: options.sharedState }),
      ...(prepared.policy !== undefined && { policy: prepared.policy }),
      ...(prepared.dns !== undefined && { dns: prepared.dns }),
      ...(prepared.log?.handshake_failures_interval !== undefined && {
        handshakeFailureSummaryMs: parseDuration(prepared.log.handshake_failures_interval),
      }),
    });
    proxy.current = server;
    await server.start();
  } catch (error) {
    await closeProviders(instances, logger);
    throw error;
  }
  const detachStats = metrics.collectFrom(server.stats);
  const view = new ProcessView(
    server,
    activity,
    new ProviderHealthCheck(),
    () => instances,
    () => pipelineSettings(current.auth).cache !== false,
    options.worker,
  );
  let admin: AdminServer | undefined;
  if (prepared.admin !== undefined) {
    admin = createAdminServer({
      listen: prepared.admin.listen ?? DEFAULT_ADMIN_LISTEN,
      registry: metrics.registry,
      ready: () => providersHealthy(instances),
      revoke:
        options.publishRevocation ??
        ((identity) => {
          server.revoke(identity);
          return Promise.resolve();
        }),
      operator: singleProcessOperator(view),
      logger,
      ...(prepared.admin.token !== undefined && { token: prepared.admin.token }),
    });
    try {
      await admin.start();
    } catch (error) {
      detachStats();
      await server.close();
      await closeProviders(instances, logger);
      throw new Error(
        `admin.listen ${prepared.admin.listen ?? DEFAULT_ADMIN_LISTEN}: cannot listen: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  const adminAddress = admin === undefined ? undefined : formatAddress(admin.address());
  logger.info(
    {
      event: options.startedEvent ?? "started",
      listeners: server.addresses().map(formatAddress),
      providers: instances.map((instance) => instance.instanceName),
      policy_rules: policyRuleCount(prepared),
      ...(adminAddress !== undefined && { admin: adminAddress }),
    },
    "gatehouse started",
  );
  if (adminAddress !== undefined) {
    logger.info({ event: "admin_started", admin: adminAddress }, `admin listener on http://${adminAddress}`);
  }

  let reloading: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  return {
    server,
    admin,
    registry: metrics.registry,
    ready: () => providersHealthy(instances),
    revoke: (identity) => server.revoke(identity),
    view,
    reload(next) {
      const run = reloading.then(async () => {
        if (stopping !== undefined) throw new Error("shutting down");
        const nextInstances = await startProviders(root, next, logger);
        let authSettled: Promise<void>;
        try {
          ({ authSettled } = await server.reconfigure({
            listeners: next.listeners,
            auth: { ...pipelineSettings(next.auth), chain: await fingerprintedChain(next, nextInstances) },
            ...(next.policy !== undefined && { policy: next.policy }),
            ...(next.dns !== undefined && { dns: next.dns }),
          }));
        } catch (error) {
          await closeProviders(nextInstances, logger);
          throw error;
        }
        const previous = instances;
        instances = nextInstances;
        if (JSON.stringify(next.admin) !== JSON.stringify(current.admin)) {
          logger.warn({ event: "admin_unchanged" }, "admin settings changed: they take effect at the next restart");
        }
        if (next.relay !== current.relay) {
          logger.warn({ event: "relay_unchanged" }, "relay changed: it takes effect at the next restart");
        }
        if (next.log?.format !== current.log?.format) {
          logger.warn({ event: "log_format_unchanged" }, "log.format changed: it takes effect at the next restart");
        }
        current = next;
        // Logins still running on the old providers finish there (bounded by the auth timeout).
        const closed = authSettled.then(() => closeProviders(previous, logger));
        closing.add(closed);
        void closed.then(() => closing.delete(closed));
        // The reload is announced at the more verbose of the old and the new level.
        const nextLevel = next.log?.level ?? "info";
        const quieter = (logger.levels.values[nextLevel] ?? Infinity) > logger.levelVal;
        if (!quieter) logger.level = nextLevel;
        logger.info(
          {
            event: "config_reloaded",
            listeners: server.addresses().map(formatAddress),
            listener_count: next.listeners.length,
            provider_count: nextInstances.length,
            providers: nextInstances.map((instance) => instance.instanceName),
            policy_rules: policyRuleCount(next),
          },
          "config reloaded",
        );
        if (quieter) logger.level = nextLevel;
      });
      reloading = run.catch(() => undefined);
      return run;
    },
    stop(options = {}) {
      stopping ??= (async () => {
        await reloading;
        await server.close({ drainMs: options.drainMs ?? 0 });
        detachStats();
        await admin?.close();
        await Promise.all(closing);
        await closeProviders(instances, logger);
      })();
      return stopping;
    },
  };
}

async function startProviders(
  root: DependencyContainer,
  prepared: Prepared,
  logger: PinoLogger,
): Promise<ProviderInstance[]> {
  const instances = createProviders(root, prepared.plans, prepared.configDir, logger);
  if (instances.length === 0 && prepared.listeners.some((listener) => listener.require_auth === true)) {
    logger.warn(
      { event: "no_auth_provider" },
      "require_auth is set but no auth provider is configured: every username/password attempt is denied",
    );
  }
  await initProviders(instances, logger);
  return instances;
}

/** The chain with each instance's fingerprint, so the pipeline keeps the cache of unchanged ones. */
async function fingerprintedChain(
  prepared: Prepared,
  instances: readonly ProviderInstance[],
): Promise<AuthChainEntry[]> {
  const fingerprints = await Promise.all(prepared.plans.map((plan) => providerFingerprint(plan, prepared.configDir)));
  return chainEntries(instances).map((entry, index) => ({ ...entry, fingerprint: fingerprints[index]! }));
}

/** Ready when every provider's health() passes; providers without health() count as healthy. */
async function providersHealthy(instances: readonly ProviderInstance[]): Promise<void> {
  const signal = AbortSignal.timeout(2000);
  await Promise.all(
    instances.map(async (instance) => {
      try {
        await instance.provider.health?.(signal);
      } catch (error) {
        throw new Error(
          `provider ${instance.instanceName}: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
          },
        );
      }
    }),
  );
}
