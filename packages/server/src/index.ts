// The server's wiring imports tsyringe, which needs the Reflect metadata polyfill loaded first:
// an embedder (or the plugin testkit) importing this entry point must not have to know that.
import "reflect-metadata";
export { loadConfigFile, validateConfig } from "./config/load.js";
export type { LoadedConfig } from "./config/load.js";
export { configSchema } from "./config/schema.js";
export type {
  AdminConfig,
  AuthConfig,
  GatehouseConfig,
  ListenerConfig,
  LogConfig,
  ProviderEntry,
} from "./config/schema.js";
export { loadPlugin } from "./plugins/load-plugin.js";
export { SHORT_NAMES, parseUse } from "./plugins/specifier.js";
export { resolveProviders } from "./plugins/resolve-providers.js";
export type { ProviderPlan } from "./plugins/resolve-providers.js";
export { createRootContainer } from "./wiring/root-container.js";
export { closeProviders, createProviders, initProviders, wireProvider } from "./wiring/create-providers.js";
export type { WiredProvider } from "./wiring/create-providers.js";
export type { ProviderInstance } from "./wiring/create-providers.js";
export { DEFAULT_SHUTDOWN_TIMEOUT_MS, prepareFromFile } from "./commands/prepare.js";
export type { Prepared } from "./commands/prepare.js";
export { runProxy } from "./commands/run.js";
export type { Running } from "./commands/run.js";
export { loadPluginModule } from "./plugins/load-plugin.js";
export type { LoadedPlugin } from "./plugins/load-plugin.js";
export { verifyPlugin } from "./plugins/verify-plugin.js";
export type {
  PluginProblem,
  PluginProblemCode,
  PluginVerification,
  VerifyPluginOptions,
} from "./plugins/verify-plugin.js";
export { packageInfoOf } from "./plugins/package-info.js";
export type { PluginPackageInfo } from "./plugins/package-info.js";
