/**
 * `@gatehouse-proxy/core/engine`: the SOCKS5 engine — the proxy server with its listeners,
 * sessions, auth pipeline, DNS resolver and stats, plus the wire codec. For the `gatehouse`
 * host (packages/server), observability and end-to-end tests; a plugin imports the root entry
 * only. Every name here is pinned by packages/plugin-testkit/test/unit/core-entry-points.test.ts.
 */
export { createProxyServer } from "./server.js";
export type { AuthOptions, ProxyServer, ProxyServerOptions, Reconfigured, Revoked, SharedState } from "./server.js";
export { authPipelineSettingsSchema, throttleOptionsFromSettings } from "./auth/pipeline-settings.js";
export { ConnectionLimits } from "./policy/limits.js";
export type { ConnectionLimiter, LimitExceeded, LimitSlot } from "./policy/limits.js";
export { FailureThrottle, usernameKey as throttleUsernameKey } from "./auth/failure-throttle.js";
export type { FailureThrottleStore, ThrottleAdmission, ThrottledBy } from "./auth/failure-throttle.js";
export type { FailureLogOptions } from "./auth/failure-log.js";
export type { AuthPipelineSettings } from "./auth/pipeline-settings.js";
export { duration, durationAtLeast } from "./config/fields.js";
export { codeIssues, configIssues, formatIssues, formatPath, joinPath } from "./config/issues.js";
export type { CodedProblem, ConfigIssue, ConfigIssueCode } from "./config/issues.js";
export type { AuthEvent, PolicyDeniedEvent, ProxyHooks, SessionRecord, UdpSessionRecord } from "./session/context.js";
export { MAX_SESSION_PAGE } from "./session/live-sessions.js";
export type {
  LiveSession,
  SessionFilter,
  SessionPage,
  SessionQuery,
  SessionSelector,
} from "./session/live-sessions.js";
export { ProxyStats, UDP_DROP_REASONS, UdpStats } from "./stats.js";
export type { UdpDropReason } from "./stats.js";
export type { UdpAssociationInfo } from "./udp/association.js";
export { parseUdpHeader, serializeUdpDatagram, serializeUdpReplyHeader } from "./protocol/udp-header.js";
export type { RefusedUdpHeader, UdpDatagramHeader, UdpHeaderRefusal } from "./protocol/udp-header.js";
export { ManualClock } from "./util/clock.js";
export type { EngineClock } from "./util/clock.js";
export type { ShedCounts } from "./stats.js";
export type { ShedReason } from "./listener/admission.js";
export { ListenerConfigError, hostPort, listenerOptionsSchema, parseHostPort } from "./listener/options.js";
export type {
  ListenerOptions,
  ResolvedListenerOptions,
  ResolvedProxyProtocol,
  ResolvedUdpOptions,
} from "./listener/options.js";
export { AuthConfigError } from "./auth/pipeline-options.js";
export { AuthPipeline } from "./auth/pipeline.js";
export type { AuthCacheOptions, AuthChainEntry, AuthThrottleOptions } from "./auth/pipeline-options.js";
export type { AuthDecision, AuthDenyReason, Authenticator } from "./auth/contract.js";
export { ALLOW_REASON, classifyAuthDecision, classifyDenyReason } from "./auth/outcome.js";
export type { AuthOutcome } from "./auth/outcome.js";
export { kdfLimiter } from "./password/kdf-limiter.js";
export { coreLocationOf, isPluginDefinition } from "./plugin/define-plugin.js";
export { DnsLookupError } from "./dns/errors.js";
export type { DnsErrorCode } from "./dns/errors.js";
export { DnsConfigError, dnsOptionsSchema, parseDnsServer } from "./dns/options.js";
export type { DnsOptions } from "./dns/options.js";
export { DnsResolver } from "./dns/resolver.js";
export type { DnsLookupOptions } from "./dns/resolver.js";
export { RECOMMENDED_TRIM_THRESHOLD, heapTrimState, tuneProcessForRelay } from "./relay/runtime.js";
export type { HeapTrim, RelayRuntime } from "./relay/runtime.js";
export type {
  SpliceBackend,
  SplicedTunnel,
  SplicedTunnelEnd,
  SplicedSide,
  SplicedTunnelState,
} from "./relay/splice.js";
export { createJsonLogger } from "./log.js";
export type { LogLevel } from "./log.js";
export { escapeJsonLine, escapeNonPrintable } from "./util/printable.js";
export { escapeName, interpretDestinationName } from "./protocol/destination-name.js";
export type { InterpretedName, NameRefusal } from "./protocol/destination-name.js";
export {
  AddressType,
  AuthStatus,
  Command,
  Method,
  Reply,
  SOCKS_VERSION,
  USERPASS_VERSION,
} from "./protocol/constants.js";
export type { ReplyCode } from "./protocol/constants.js";
export { parseGreeting, parseReply, parseRequest, parseUserPass } from "./protocol/parse.js";
export {
  PROXY_HEADER_MAX_BYTES,
  PROXY_V1_MAX_BYTES,
  ProxyHeaderError,
  parseProxyHeader,
  serializeProxyHeaderV1,
  serializeProxyHeaderV2,
} from "./protocol/proxy-header.js";
export type {
  ProxiedEndpoint,
  ProxyHeader,
  ProxyHeaderRefusal,
  ProxyHeaderTlv,
  ProxyProtocolVersion,
} from "./protocol/proxy-header.js";
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
