import { silentLogger } from "@gatehouse-proxy/core";
import type { AuthProvider, HostResolver, Logger, PluginDefinition } from "@gatehouse-proxy/core";
import { createRootContainer, wireProvider } from "@gatehouse-proxy/server";
import type { WiredProvider } from "@gatehouse-proxy/server";
import type { ProviderFactory } from "./fixtures.js";

export interface PluginFactoryOptions {
  /** Relative paths in the config resolve against it (the config file's folder). Default: the current directory. */
  readonly configDir?: string;
  /** The provider's key under `auth.providers` (default `compliance`). */
  readonly instanceName?: string;
  /** Receives the provider's log lines, injected as Tokens.Logger (default: discarded). */
  readonly logger?: Logger;
  /**
   * Injected as Tokens.Clock: `() => number`, milliseconds since the epoch (default Date.now).
   * Give a clock the test moves to check expiry, one-time codes and other time-bound answers.
   */
  readonly clock?: () => number;
  /** Injected as Tokens.Resolver (default: the host's resolver with the default `dns` settings). */
  readonly resolver?: HostResolver;
}

/**
 * Builds one provider the way `gatehouse` does: the plugin's configSchema validates `config`
 * (what would sit beside `use:`), then the host's wiring registers the tokens (Config,
 * Context, Logger, Clock, Resolver — the last three from `options` when given) in a child
 * container and resolves the provider. Returns the provider and that container.
 */
export function wirePlugin(
  plugin: PluginDefinition,
  config: unknown,
  options: PluginFactoryOptions = {},
): WiredProvider {
  const logger = options.logger ?? silentLogger;
  const root = createRootContainer({
    logger,
    ...(options.clock !== undefined && { clock: options.clock }),
    ...(options.resolver !== undefined && { resolver: options.resolver }),
  });
  const plan = {
    instanceName: options.instanceName ?? "compliance",
    plugin,
    config: plugin.configSchema.parse(config),
  };
  return wireProvider(root, plan, options.configDir ?? process.cwd(), logger);
}

/** A factory for the compliance suite: every call builds a fresh provider with wirePlugin. */
export function providerFromPlugin(
  plugin: PluginDefinition,
  config: unknown,
  options: PluginFactoryOptions = {},
): ProviderFactory {
  // A config the schema rejects, or a provider that cannot be created, rejects the factory's promise.
  return () => new Promise<AuthProvider>((resolve) => resolve(wirePlugin(plugin, config, options).provider));
}
