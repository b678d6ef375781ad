import { Tokens, definePlugin } from "@gatehouse-proxy/core";
import { Lifecycle } from "tsyringe";
import { staticConfigSchema } from "./config.js";
import { StaticProvider } from "./static-provider.js";

export { StaticProvider } from "./static-provider.js";
export { staticConfigSchema, usersFileSchema } from "./config.js";
export type { StaticConfig, UserEntry } from "./config.js";
export { UsersFileError, loadUsersFile } from "./users-file.js";
export type { UserTable } from "./user-table.js";

/** `use: static` — users and password records inline or from a users_file. */
export default definePlugin({
  name: "@gatehouse-proxy/auth-static",
  gatehouse: "^0.1",
  configSchema: staticConfigSchema,
  register(container, config, context) {
    container.register(Tokens.PluginConfig, { useValue: config });
    container.register(Tokens.PluginContext, { useValue: context });
    if (!container.isRegistered(Tokens.Logger, true)) container.register(Tokens.Logger, { useValue: context.logger });
    // One provider (one users table) per instance container, however often it is resolved.
    container.register(Tokens.AuthProvider, { useClass: StaticProvider }, { lifecycle: Lifecycle.ContainerScoped });
  },
});
