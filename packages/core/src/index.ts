export * from "./auth/contract.js";
export { normalizeAuthResult } from "./auth/normalize.js";
export type { NormalizeOutcome } from "./auth/normalize.js";
export { AuthPipeline } from "./auth/pipeline.js";
export { AUTH_PIPELINE_DEFAULTS, AuthConfigError } from "./auth/pipeline-options.js";
export type {
  AuthCacheOptions,
  AuthChainEntry,
  AuthPipelineOptions,
  AuthThrottleOptions,
} from "./auth/pipeline-options.js";
export {
  ProviderAuthenticator,
  AuthTimeoutError,
  DEFAULT_AUTH_TIMEOUT_MS,
  askProvider,
} from "./auth/provider-authenticator.js";
export type { AskProviderOptions } from "./auth/provider-authenticator.js";
export { redactSecret } from "./auth/redact.js";
export {
  DEFAULT_MAX_UNAUTHENTICATED_PER_IP,
  ListenerConfigError,
  parseHostPort,
  resolveListenerOptions,
} from "./listener/options.js";
export {
  FALLBACK_SOFT_FD_LIMIT,
  FDS_PER_CONNECTION,
  FD_RESERVE_FRACTION,
  FD_RESERVE_MAX,
  FD_RESERVE_MIN,
  fdBudget,
  parseSoftFdLimit,
  readSoftFdLimit,
} from "./listener/fd-budget.js";
export type { FdBudget, SoftFdLimit } from "./listener/fd-budget.js";
export { LimitEpisodes, RateLimitedCount, UnauthenticatedSessions } from "./listener/admission.js";
export type { Admittable, LimitEpisode, ShedReason } from "./listener/admission.js";
export { ConnectionLimit } from "./listener/connection-limit.js";
export type { ConnectionLimitOptions } from "./listener/connection-limit.js";
export type { ListenerOptions, ResolvedListenerOptions } from "./listener/options.js";
export { createJsonLogger, silentLogger } from "./log.js";
export type { Logger, LogLevel } from "./log.js";
export * from "./protocol/constants.js";
export { ProtocolError, RefusedNameError } from "./protocol/errors.js";
export { escapeName, interpretDestinationName } from "./protocol/destination-name.js";
export type { InterpretedName, NameRefusal } from "./protocol/destination-name.js";
export type { ProtocolErrorCode } from "./protocol/errors.js";
export { parseGreeting, parseReply, parseRequest, parseUserPass } from "./protocol/parse.js";
export type {
  Greeting,
  Parsed,
  RequestAddress,
  SocksReplyMessage,
  SocksRequest,
  UserPassCredentials,
} from "./protocol/parse.js";
export {
  AUTH_FAILURE,
  AUTH_SUCCESS,
  NO_ACCEPTABLE_METHODS,
  failureReply,
  methodSelection,
  serializeGreeting,
  serializeReply,
  serializeRequest,
  serializeUserPass,
} from "./protocol/serialize.js";
export { DnsLookupError } from "./dns/errors.js";
export type { DnsErrorCode } from "./dns/errors.js";
export {
  DNS_DEFAULTS,
  DNS_LIMITS,
  DNS_TIMEOUT_RANGE,
  DnsConfigError,
  parseDnsServer,
  resolveDnsOptions,
} from "./dns/options.js";
export type { DnsOptions, ResolvedDnsOptions } from "./dns/options.js";
export { DnsResolver } from "./dns/resolver.js";
export { parseInetAton, parseNumericHost } from "./dns/numeric-host.js";
export type { NumericHost } from "./dns/numeric-host.js";
export type { DnsLookupOptions } from "./dns/resolver.js";
export { createProxyServer } from "./server.js";
export type { AuthOptions, AuthPipelineSettings, ProxyServer, ProxyServerOptions, Reconfigured } from "./server.js";
export type {
  AuthEvent,
  HostLookupOptions,
  HostResolver,
  PolicyDeniedEvent,
  ProxyHooks,
  SessionRecord,
} from "./session/context.js";
export * from "./policy/index.js";
export { replyForDialError } from "./session/reply-codes.js";
export { ProxyStats } from "./stats.js";
export type { ShedCounts } from "./stats.js";
export { abortReason, untilAborted } from "./util/abort.js";
export { parseDuration } from "./util/duration.js";
export type { Duration } from "./util/duration.js";
export { TimerWheel } from "./util/timer-wheel.js";
export { escapeJsonLine, escapeNonPrintable } from "./util/printable.js";
export { HANDSHAKE_FAILURE_SUMMARY_MS, HandshakeFailureSummary } from "./session/handshake-failures.js";
export type { IntervalScheduler } from "./session/handshake-failures.js";
export type { WheelEntry } from "./util/timer-wheel.js";
export { Tokens, coreLocationOf, definePlugin, isPluginDefinition } from "./plugin/define-plugin.js";
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
/** Plugins build their config schemas with the host's zod, so there is one copy. */
export { z } from "zod";
export { hashPassword, verifyAgainstDummy, verifyPassword } from "./password/password.js";
export type { HashPasswordOptions, VerifyPasswordOptions } from "./password/password.js";
export { parsePasswordRecord } from "./password/record.js";
export type { PasswordRecord } from "./password/record.js";
export { PasswordRecordError } from "./password/record-error.js";
export type { PasswordRecordErrorCode } from "./password/record-error.js";
export { SCRYPT_BOUNDS, SCRYPT_DEFAULTS } from "./password/scrypt-record.js";
export type { ScryptParams, ScryptRecord } from "./password/scrypt-record.js";
export { BCRYPT_COST_BOUNDS } from "./password/bcrypt-record.js";
export type { BcryptRecord } from "./password/bcrypt-record.js";
export { KdfLimiter, kdfLimiter } from "./password/kdf-limiter.js";
export { ALLOW_REASON, classifyAuthDecision, classifyDenyReason } from "./auth/outcome.js";
export type { AuthOutcome } from "./auth/outcome.js";
