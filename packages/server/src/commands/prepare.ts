import type { ListenerOptions } from "@gatehouse/core";
import { loadConfigFile } from "../config/load.js";
import type { AuthConfig, LogConfig } from "../config/schema.js";
import { hostVersion } from "../plugins/host-version.js";
import { resolveProviders } from "../plugins/resolve-providers.js";
import type { ProviderPlan } from "../plugins/resolve-providers.js";
import { listenerOptions } from "../wiring/pipeline-settings.js";

/** Everything needed to start, checked: listeners, the pipeline's config, the loaded plugins. */
export interface Prepared {
  readonly listeners: ListenerOptions[];
  readonly auth: AuthConfig | undefined;
  readonly log: LogConfig | undefined;
  readonly plans: ProviderPlan[];
  readonly configDir: string;
}

/** Loads and validates a config file, loading every plugin and checking its options. Throws ConfigError. */
export async function prepareFromFile(file: string): Promise<Prepared> {
  const { config, configDir } = await loadConfigFile(file);
  const plans = await resolveProviders(config.auth, configDir, hostVersion());
  return { listeners: listenerOptions(config.listeners), auth: config.auth, log: config.log, plans, configDir };
}
