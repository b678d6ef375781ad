import { definePlugin } from "@gatehouse-proxy/core";
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
  provider: StaticProvider,
});
