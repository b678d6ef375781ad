import { definePlugin } from "@gatehouse-proxy/core";
import { ldapConfigSchema } from "./config.js";
import { LdapProvider } from "./ldap-provider.js";

export { LdapProvider } from "./ldap-provider.js";
export { ldapConfigSchema } from "./config.js";
export type { LdapConfig } from "./config.js";
export { LdapBackendError, credentialsRejected } from "./errors.js";
export type { LdapErrorCode } from "./errors.js";
export { escapeDnValue, escapeFilterValue, fillTemplate } from "./escape.js";

/** `use: ldap` — LDAP / Active Directory: search-then-bind or a DN template, with groups. */
export default definePlugin({
  name: "@gatehouse-proxy/auth-ldap",
  gatehouse: "^0.1",
  configSchema: ldapConfigSchema,
  provider: LdapProvider,
});
