import { GatehouseError, Tokens } from "@gatehouse-proxy/core";
import type { AuthProvider, Logger, PluginContext } from "@gatehouse-proxy/core";
import { Lifecycle } from "tsyringe";
import type { DependencyContainer } from "tsyringe";
import type { ProviderPlan } from "../plugins/resolve-providers.js";

export interface ProviderInstance {
  readonly instanceName: string;
  readonly pluginName: string;
  readonly onError: "deny" | "next";
  readonly provider: AuthProvider;
}

/**
 * Each provider instance gets a child container holding its validated config (Tokens.Config),
 * its context (Tokens.Context) and a logger bound to its name (Tokens.Logger); Tokens.Clock and
 * Tokens.Resolver come from the root. A short-form plugin's `provider` class is registered
 * there as the instance's AuthProvider, a `register` plugin registers its own services; then
 * the host resolves Tokens.AuthProvider.
 */
export function createProviders(
  root: DependencyContainer,
  plans: readonly ProviderPlan[],
  configDir: string,
  logger: Logger,
): ProviderInstance[] {
  return plans.map((plan) => {
    const { provider } = wireProvider(root, plan, configDir, logger);
    return { instanceName: plan.instanceName, pluginName: plan.plugin.name, onError: plan.onError, provider };
  });
}

/** A provider instance and the child container it was resolved from. */
export interface WiredProvider {
  readonly provider: AuthProvider;
  readonly container: DependencyContainer;
}

/** One provider instance, as createProviders makes each (see there). */
export function wireProvider(
  root: DependencyContainer,
  plan: Pick<ProviderPlan, "instanceName" | "plugin" | "config">,
  configDir: string,
  logger: Logger,
): WiredProvider {
  const child = root.createChildContainer();
  const providerLogger = logger.child({ provider: plan.instanceName, plugin: plan.plugin.name });
  const context: PluginContext = { instanceName: plan.instanceName, configDir, logger: providerLogger };
  child.register(Tokens.Config, { useValue: plan.config });
  child.register(Tokens.Context, { useValue: context });
  child.register(Tokens.Logger, { useValue: providerLogger });
  let provider: AuthProvider;
  try {
    if (plan.plugin.provider !== undefined) {
      const providerClass = plan.plugin.provider as unknown as new (...args: unknown[]) => AuthProvider;
      child.register(Tokens.AuthProvider, { useClass: providerClass }, { lifecycle: Lifecycle.ContainerScoped });
    } else {
      plan.plugin.register(child, plan.config, context);
    }
    provider = child.resolve<AuthProvider>(Tokens.AuthProvider);
  } catch (error) {
    throw new GatehouseError(
      "GH_PROVIDER_CREATE_FAILED",
      `provider ${plan.instanceName} (${plan.plugin.name}) could not be created: ${errorText(error)}${unknownTypeHint(error)}`,
      { cause: error },
    );
  }
  if (typeof (provider as Partial<AuthProvider> | undefined)?.authenticate !== "function") {
    throw new GatehouseError(
      "GH_PROVIDER_CREATE_FAILED",
      `provider ${plan.instanceName} (${plan.plugin.name}): what the plugin registered under Tokens.AuthProvider has no authenticate()`,
    );
  }
  return { provider, container: child };
}

/** init() in order; on a failure, the ones already started are closed (reverse order) and startup stops. */
export async function initProviders(instances: readonly ProviderInstance[], logger: Logger): Promise<void> {
  const started: ProviderInstance[] = [];
  for (const instance of instances) {
    try {
      await instance.provider.init?.();
    } catch (error) {
      await closeProviders(started, logger);
      throw new GatehouseError(
        "GH_PROVIDER_INIT_FAILED",
        `provider ${instance.instanceName} (${instance.pluginName}) failed to start: ${errorText(error)}`,
        { cause: error },
      );
    }
    started.push(instance);
    logger.info(
      { event: "provider_ready", provider: instance.instanceName, plugin: instance.pluginName },
      "provider ready",
    );
  }
}

/** close() in reverse order; a failing close is logged and the rest still close. */
export async function closeProviders(instances: readonly ProviderInstance[], logger: Logger): Promise<void> {
  for (const instance of [...instances].reverse()) {
    try {
      await instance.provider.close?.();
    } catch (error) {
      logger.warn(
        { event: "provider_close_failed", provider: instance.instanceName, err: error },
        "provider close failed",
      );
    }
  }
}

/**
 * tsyringe's `TypeInfo not known for "X"` means the host's tsyringe never saw X's
 * `@injectable()`: either it has none, or it was decorated by another copy of tsyringe.
 */
function unknownTypeHint(error: unknown): string {
  if (!/TypeInfo not known/.test(errorText(error))) return "";
  return (
    " (the class is not known to the host's tsyringe: mark it @injectable() with explicit @inject(Tokens.X) on each" +
    " constructor parameter; if it is, the plugin uses its own copy of tsyringe — make tsyringe a peerDependency" +
    " of the plugin, do not bundle it, and remove the plugin's nested node_modules/tsyringe)"
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
