import { GatehouseError } from "@gatehouse-proxy/core";
import type { PluginDefinition } from "@gatehouse-proxy/core";
import type { AuthConfig } from "../config/schema.js";
import { configError } from "../config/config-error.js";
import { codeIssues } from "@gatehouse-proxy/core/engine";
import type { CodedProblem } from "@gatehouse-proxy/core/engine";
import { loadPlugin } from "./load-plugin.js";

/** A configured provider instance, its plugin loaded and its options validated by the plugin's schema. */
export interface ProviderPlan {
  readonly instanceName: string;
  readonly plugin: PluginDefinition;
  readonly onError: "deny" | "next";
  readonly config: unknown;
}

/**
 * Loads the plugin of every provider defined under `auth.providers` and validates its options
 * (throws a GatehouseError with every problem of every provider); returns the ones `provider` or
 * `chain` uses, in chain order.
 */
export async function resolveProviders(
  auth: AuthConfig | undefined,
  configDir: string,
  host: string,
): Promise<ProviderPlan[]> {
  if (auth === undefined) return [];
  const names = auth.chain ?? (auth.provider === undefined ? [] : [auth.provider]);
  const problems: CodedProblem[] = [];
  const plans = new Map<string, ProviderPlan>();
  for (const [instanceName, entry] of Object.entries(auth.providers)) {
    const prefix = `auth.providers.${instanceName}`;
    const { use, on_error: onError, ...options } = entry;
    let plugin: PluginDefinition;
    try {
      plugin = await loadPlugin(use, configDir, `${prefix}.use`, host);
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      problems.push(...error.problems.map((problem) => ({ code: error.code, problem })));
      continue;
    }
    const result = plugin.configSchema.safeParse(options);
    if (!result.success) {
      problems.push(...codeIssues(result.error.issues, prefix));
      continue;
    }
    const extra = (await plugin.validate?.(result.data, { configDir })) ?? [];
    if (extra.length > 0) {
      problems.push(
        ...extra.map((problem) => ({ code: "GH_PLUGIN_CONFIG_REJECTED" as const, problem: `${prefix}.${problem}` })),
      );
      continue;
    }
    plans.set(instanceName, { instanceName, plugin, onError: onError ?? "deny", config: result.data });
  }
  if (problems.length > 0) throw configError(problems);
  return names.flatMap((name) => plans.get(name) ?? []);
}
