import type { AuthProvider, Logger, PluginDefinition } from "@gatehouse-proxy/core";
import type { ProviderFactory } from "./fixtures.js";

export interface PluginFactoryOptions {
  /** Relative paths in the config resolve against it (the config file's folder). Default: the current directory. */
  readonly configDir?: string;
  /** The provider's key under `auth.providers` (default `compliance`). */
  readonly instanceName?: string;
  /** Receives the provider's log lines (default: discarded). */
  readonly logger?: Logger;
}

/**
 * A factory that builds the provider the way `gatehouse` does: the plugin's configSchema
 * validates `config` (what would sit beside `use:`), then the host's wiring gives the plugin
 * a child container with its config, context and logger, and resolves Tokens.AuthProvider.
 * Every call creates a fresh provider.
 */
export function providerFromPlugin(
  plugin: PluginDefinition,
  config: unknown,
  options: PluginFactoryOptions = {},
): ProviderFactory {
  return async (): Promise<AuthProvider> => {
    const { createProviders, createRootContainer } = await import("@gatehouse-proxy/server");
    const { silentLogger } = await import("@gatehouse-proxy/core");
    const logger = options.logger ?? silentLogger;
    const parsed = plugin.configSchema.parse(config);
    const plan = {
      instanceName: options.instanceName ?? "compliance",
      plugin,
      onError: "deny" as const,
      config: parsed,
    };
    const [instance] = createProviders(
      createRootContainer({ logger }),
      [plan],
      options.configDir ?? process.cwd(),
      logger,
    );
    return instance!.provider;
  };
}
