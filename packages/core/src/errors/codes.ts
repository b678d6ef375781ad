/**
 * Where a code belongs. `config` and `plugin` codes are problems of the config file (the CLI
 * prints them under "invalid configuration"); the others are about the command line, starting
 * providers or the server, `gatehouse users`, the admin API (`gatehouse sessions`), password
 * records, or a bug.
 */
export type ErrorFamily =
  "config" | "plugin" | "provider" | "startup" | "usage" | "users" | "admin" | "password" | "internal";

/** What a code means and the exit status of a `gatehouse` command that fails with it. */
export interface ErrorCodeInfo {
  readonly family: ErrorFamily;
  readonly exitStatus: number;
  readonly meaning: string;
}

/**
 * Every code a Gatehouse error can carry: the one list the CLI derives its exit status from and
 * docs/errors.md documents (a test keeps the two equal). A code, once published, keeps its
 * meaning; exit status 2 means "fix the config or the command line", 1 "it could not run".
 */
export const ERROR_CODES = {
  GH_CONFIG_UNREADABLE: { family: "config", exitStatus: 2, meaning: "the config file cannot be read" },
  GH_CONFIG_SYNTAX: { family: "config", exitStatus: 2, meaning: "the config file is not valid YAML or JSON" },
  GH_CONFIG_EMPTY: { family: "config", exitStatus: 2, meaning: "the config file is empty" },
  GH_CONFIG_UNKNOWN_KEY: { family: "config", exitStatus: 2, meaning: "a key the config does not know (a typo?)" },
  GH_CONFIG_MISSING_KEY: { family: "config", exitStatus: 2, meaning: "a required key is missing" },
  GH_CONFIG_INVALID_VALUE: {
    family: "config",
    exitStatus: 2,
    meaning: "a value of the wrong type, out of range or malformed",
  },
  GH_CONFIG_ENV_UNSET: {
    family: "config",
    exitStatus: 2,
    meaning: "a ${env:NAME} in the config names an environment variable that is not set",
  },
  GH_CONFIG_FILE_UNREADABLE: {
    family: "config",
    exitStatus: 2,
    meaning: "a file the config names (dns.hosts_file, admin.token_file) cannot be read",
  },
  GH_CONFIG_LISTENER_INVALID: { family: "config", exitStatus: 2, meaning: "listener options the engine refuses" },
  GH_CONFIG_AUTH_INVALID: { family: "config", exitStatus: 2, meaning: "auth pipeline options the engine refuses" },
  GH_CONFIG_DNS_INVALID: { family: "config", exitStatus: 2, meaning: "dns options the resolver refuses" },
  GH_CONFIG_POLICY_INVALID: { family: "config", exitStatus: 2, meaning: "a policy the policy compiler refuses" },
  GH_PLUGIN_NOT_INSTALLED: {
    family: "plugin",
    exitStatus: 2,
    meaning: "a `use:` names a package that is not installed or a file that does not exist",
  },
  GH_PLUGIN_LOAD_FAILED: {
    family: "plugin",
    exitStatus: 2,
    meaning: "the plugin's module throws when imported (syntax error, missing dependency)",
  },
  GH_PLUGIN_NOT_A_PLUGIN: {
    family: "plugin",
    exitStatus: 2,
    meaning: "the module's default export is not the result of definePlugin()",
  },
  GH_PLUGIN_VERSION_MISMATCH: {
    family: "plugin",
    exitStatus: 2,
    meaning: "the plugin's `gatehouse` range does not include this Gatehouse version",
  },
  GH_PLUGIN_OWN_COPY: {
    family: "plugin",
    exitStatus: 2,
    meaning: "the plugin carries its own copy of @gatehouse-proxy/core or tsyringe instead of sharing the host's",
  },
  GH_PLUGIN_BAD_SCHEMA: { family: "plugin", exitStatus: 2, meaning: "the plugin's configSchema is not a zod schema" },
  GH_PLUGIN_CONFIG_REJECTED: {
    family: "plugin",
    exitStatus: 2,
    meaning: "the plugin's validate() refuses the provider's options",
  },
  GH_PLUGIN_NOT_CONFIGURED: {
    family: "usage",
    exitStatus: 2,
    meaning: "`plugins verify --config`: no provider in the config uses the plugin",
  },
  GH_PLUGIN_VERIFY_FAILED: { family: "usage", exitStatus: 1, meaning: "`plugins verify` found a problem" },
  GH_PROVIDER_CREATE_FAILED: {
    family: "provider",
    exitStatus: 1,
    meaning: "the provider could not be created (its constructor or register() threw)",
  },
  GH_PROVIDER_INIT_FAILED: { family: "provider", exitStatus: 1, meaning: "the provider's init() failed" },
  GH_PROVIDER_HEALTH_FAILED: {
    family: "provider",
    exitStatus: 1,
    meaning: "the provider's health() failed (reported by `plugins verify`)",
  },
  GH_PROVIDER_CLOSE_FAILED: {
    family: "provider",
    exitStatus: 1,
    meaning: "the provider's close() failed (reported by `plugins verify`)",
  },
  GH_RELAY_UNAVAILABLE: {
    family: "startup",
    exitStatus: 1,
    meaning: "`relay: splice` is configured but the splice addon is not installed or not built",
  },
  GH_WORKERS_FAILED: {
    family: "startup",
    exitStatus: 1,
    meaning: "with `workers`, a worker process exited before it started serving",
  },
  GH_STARTUP_FAILED: {
    family: "startup",
    exitStatus: 1,
    meaning: "the config is valid but the server could not start (a port in use, a certificate file unreadable)",
  },
  GH_CLI_USAGE: { family: "usage", exitStatus: 2, meaning: "a command line gatehouse does not understand" },
  GH_CLI_BAD_PASSWORD: {
    family: "usage",
    exitStatus: 2,
    meaning: "the password read from stdin is empty or ends with a NUL character",
  },
  GH_USERS_NO_STORE: {
    family: "users",
    exitStatus: 2,
    meaning: "`gatehouse users` finds no provider (or several) whose plugin manages users",
  },
  GH_USERS_STORE_UNAVAILABLE: {
    family: "users",
    exitStatus: 1,
    meaning: "`gatehouse users` cannot open the provider's user store (backend down)",
  },
  GH_USERS_OPERATION_FAILED: {
    family: "users",
    exitStatus: 1,
    meaning: "the user store refused the operation (the user exists, no such user)",
  },
  GH_ADMIN_UNREACHABLE: {
    family: "admin",
    exitStatus: 1,
    meaning: "`gatehouse sessions` (or `users disable`) cannot reach the admin API of the running server",
  },
  GH_ADMIN_REFUSED: {
    family: "admin",
    exitStatus: 2,
    meaning: "the admin API refused the request: no or a wrong token (401), not loopback (403), or a bad request",
  },
  GH_ADMIN_FAILED: {
    family: "admin",
    exitStatus: 1,
    meaning: "the admin API could not do what was asked (an error on the server's side)",
  },
  GH_PASSWORD_RECORD_MALFORMED: { family: "password", exitStatus: 2, meaning: "a password record is malformed" },
  GH_PASSWORD_RECORD_UNKNOWN_ALGORITHM: {
    family: "password",
    exitStatus: 2,
    meaning: "a password record names an algorithm Gatehouse does not verify",
  },
  GH_PASSWORD_RECORD_COST_OUT_OF_RANGE: {
    family: "password",
    exitStatus: 2,
    meaning: "a password record asks for more (or less) KDF work than the bounds allow",
  },
  GH_INTERNAL: { family: "internal", exitStatus: 1, meaning: "an unexpected error (a bug): the stack trace follows" },
} as const satisfies Record<string, ErrorCodeInfo>;

/** A stable error code: one of the keys of ERROR_CODES (`GH_CONFIG_UNKNOWN_KEY`, ...). */
export type GatehouseErrorCode = keyof typeof ERROR_CODES;
