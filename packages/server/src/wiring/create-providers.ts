import { Tokens } from "@gatehouse-proxy/core";
import type { AuthProvider, Logger, PluginContext } from "@gatehouse-proxy/core";
import type { DependencyContainer } from "tsyringe";
import type { ProviderPlan } from "../plugins/resolve-providers.js";

export interface ProviderInstance {
  readonly instanceName: string;
  readonly pluginName: string;
  readonly onError: "deny" | "next";
  readonly provider: AuthProvider;
}

/** A provider that could not be created or started; the message names it. */
export class ProviderStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProviderStartError";
  }
}

/**
 * Each provider instance gets a child container holding its validated config, its context
 * and a logger bound to its name; the plugin registers its services there and the host
 * resolves Tokens.AuthProvider.
 */
export function createProviders(
  root: DependencyContainer,
  plans: readonly ProviderPlan[],
  configDir: string,
  logger: Logger,
): ProviderInstance[] {
  return plans.map((plan) => {
    const child = root.createChildContainer();
    const providerLogger = logger.child({ provider: plan.instanceName, plugin: plan.plugin.name });
    const context: PluginContext = { instanceName: plan.instanceName, configDir, logger: providerLogger };
    child.register(Tokens.PluginConfig, { useValue: plan.config });
    child.register(Tokens.PluginContext, { useValue: context });
    child.register(Tokens.Logger, { useValue: providerLogger });
    let provider: AuthProvider;
    try {
      plan.plugin.register(child, plan.config, context);
      provider = child.resolve<AuthProvider>(Tokens.AuthProvider);
    } catch (error) {
      throw new ProviderStartError(
        `provider ${plan.instanceName} (${plan.plugin.name}) could not be created: ${errorText(error)}`,
        { cause: error },
      );
    }
    if (typeof (provider as Partial<AuthProvider> | undefined)?.authenticate !== "function") {
      throw new ProviderStartError(
        `provider ${plan.instanceName} (${plan.plugin.name}): what the plugin registered under Tokens.AuthProvider has no authenticate()`,
      );
    }
    return { instanceName: plan.instanceName, pluginName: plan.plugin.name, onError: plan.onError, provider };
  });
}

/** init() in order; on a failure, the ones already started are closed (reverse order) and startup stops. */
export async function initProviders(instances: readonly ProviderInstance[], logger: Logger): Promise<void> {
  const started: ProviderInstance[] = [];
  for (const instance of instances) {
    try {
      await instance.provider.init?.();
    } catch (error) {
      await closeProviders(started, logger);
      throw new ProviderStartError(
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
