/**
 * `@gatehouse-proxy/core`: the plugin contract — what an auth provider plugin and its tests
 * import. The engine that runs providers is `@gatehouse-proxy/core/engine`, the policy
 * compiler `@gatehouse-proxy/core/policy`; a plugin needs neither. Every name here is pinned
 * by packages/plugin-testkit/test/unit/core-entry-points.test.ts.
 */
export { IDENTITY_CONTEXTS } from "./auth/contract.js";
export type {
  AuthInfo,
  AuthProvider,
  AuthRequest,
  AuthResult,
  ConnMeta,
  Identity,
  IdentityContext,
  NormalizedAuthInfo,
} from "./auth/contract.js";
export { normalizeAuthResult } from "./auth/normalize.js";
export type { NormalizeOutcome } from "./auth/normalize.js";
export { redactSecret } from "./auth/redact.js";
export { Tokens, definePlugin } from "./plugin/define-plugin.js";
export type {
  NewUser,
  PluginContext,
  PluginDefinition,
  PluginDefinitionBase,
  ProviderClass,
  ProviderPluginDefinition,
  RegisterPluginDefinition,
  UserListing,
  UserStore,
} from "./plugin/define-plugin.js";
export type { HostLookupOptions, HostResolver } from "./session/context.js";
export { silentLogger } from "./log.js";
export type { Logger } from "./log.js";
/** Plugins build their config schemas with the host's zod, so there is one copy. */
export { z } from "zod";
export { hashPassword, verifyAgainstDummy, verifyPassword } from "./password/password.js";
export type { HashPasswordOptions, VerifyPasswordOptions } from "./password/password.js";
export { parsePasswordRecord } from "./password/record.js";
export type { PasswordRecord } from "./password/record.js";
export { ERROR_CODES } from "./errors/codes.js";
export type { ErrorCodeInfo, ErrorFamily, GatehouseErrorCode } from "./errors/codes.js";
export { GatehouseError } from "./errors/gatehouse-error.js";
export { PasswordRecordError } from "./password/record-error.js";
export type { PasswordRecordErrorCode } from "./password/record-error.js";
export { SCRYPT_BOUNDS, SCRYPT_DEFAULTS } from "./password/scrypt-record.js";
export type { ScryptParams, ScryptRecord } from "./password/scrypt-record.js";
export { BCRYPT_COST_BOUNDS } from "./password/bcrypt-record.js";
export type { BcryptRecord } from "./password/bcrypt-record.js";
export { abortReason, untilAborted } from "./util/abort.js";
export { Semaphore, SemaphoreQueueFullError } from "./util/semaphore.js";
export type { Release, SemaphoreOptions } from "./util/semaphore.js";
export { parseDuration } from "./util/duration.js";
export type { Duration } from "./util/duration.js";
