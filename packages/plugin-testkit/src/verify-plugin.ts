import type { PluginVerification, VerifyPluginOptions } from "@gatehouse-proxy/server";

export type {
  PluginProblem,
  PluginProblemCode,
  PluginVerification,
  VerifyPluginOptions,
} from "@gatehouse-proxy/server";

/**
 * Loads a plugin through Gatehouse's production loader and reports what is wrong with it:
 * not installed, failed to load, not a plugin (no default export, or not made by
 * definePlugin), wrong host version, a config schema that is not zod, a config the schema
 * rejects — and, given `config` (the provider's options, what sits beside `use:`), whether
 * the provider can be created, started (init), health-checked and closed. Never throws for a
 * broken plugin: check `ok` and `problems`.
 */
export async function verifyPlugin(
  pathOrName: string,
  config?: unknown,
  options?: VerifyPluginOptions,
): Promise<PluginVerification> {
  const server = await import("@gatehouse-proxy/server");
  return server.verifyPlugin(pathOrName, config, options);
}
