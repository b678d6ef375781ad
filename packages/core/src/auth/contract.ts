/** The auth contract every provider implements (DESIGN §4); the seed's semantics, typed. */

export const IDENTITY_CONTEXTS = [
  "ProxyAuthRfc1929",
  "SmtpAuthPlainAuthentication",
  "SmtpAuthPlainAuthorization",
  "HttpBasicAuth",
  "BearerToken",
  "LocalSystem",
  "GenericAuth",
] as const;
/** How an identity was established; one of IDENTITY_CONTEXTS. SOCKS username/password providers use `ProxyAuthRfc1929`. */
export type IdentityContext = (typeof IDENTITY_CONTEXTS)[number];

/** Where an attempt comes from: the connection's two socket addresses. */
export interface ConnMeta {
  /** The client's socket address, `ip:port` (`[v6]:port` for IPv6). */
  readonly peer_address: string;
  /** The listener's socket address the client reached, same form. */
  readonly local_address: string;
}

/** One RFC 1929 attempt as a provider sees it: the username and password (valid UTF-8, 0..255 bytes each) and the connection. Never log the password. */
export interface AuthRequest {
  readonly username: string;
  readonly password: string;
  readonly connMeta: ConnMeta;
}

/** Who the client is, and how that was established. */
export interface Identity {
  readonly identity: string;
  readonly context: IdentityContext;
}

/** A successful answer with details: at least one identity (none means denied) and optional groups for policy. */
export interface AuthInfo {
  readonly identities: readonly Identity[];
  readonly groups?: readonly string[];
  /**
   * `false`: this allow must not be reused (it consumed a one-time code, say). Gatehouse then
   * neither caches it nor hands it to an identical attempt that was waiting on the same call;
   * that attempt asks the provider itself. Default true. See also `AuthProvider.reusable`.
   */
  readonly reusable?: boolean;
}

/** What authenticate() resolves: `true` (allowed as the username), an AuthInfo, or `false` (bad credentials). A broken backend rejects instead. */
export type AuthResult = boolean | AuthInfo;

/** The auth contract every provider implements; see docs/writing-a-plugin.md. Gatehouse wraps it with deadlines, caching, coalescing, throttling and redaction. */
export interface AuthProvider {
  readonly name: string;
  /**
   * True when the decision may depend on `connMeta` (a script or remote service that sees the
   * client's address). The pipeline then caches and coalesces per username, password, client IP
   * and listener address instead of per username and password alone. Default false.
   */
  readonly usesConnMeta?: boolean;
  /**
   * `false` when no answer of this provider may be reused: one-time codes (TOTP, codes consumed
   * on use). Gatehouse then never caches its decisions (allows or denials) and never lets
   * identical attempts in flight share one call: every attempt reaches authenticate(). Other
   * providers in the chain keep caching. Default true. For single answers, see `AuthInfo.reusable`.
   */
  readonly reusable?: boolean;
  /** Connect and validate; a failure stops startup. */
  init?(): Promise<void>;
  /**
   * `false` = bad credentials; a thrown error or rejection = the backend is broken. Both deny,
   * but they are logged differently. The signal aborts when the caller's deadline passes.
   */
  authenticate(request: AuthRequest, signal: AbortSignal): Promise<AuthResult>;
  /** Throws when unhealthy. */
  health?(signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

/** Why an attempt was denied: stable codes for logs and metrics. */
export type AuthDenyReason =
  | "bad_credentials"
  | "invalid_utf8"
  | "no_provider"
  | "backend_error"
  | "backend_timeout"
  | "backend_unavailable"
  | "invalid_response"
  | "overloaded"
  | "throttled"
  /** The caller gave up (the client left) before an answer; never cached or counted as a failure. */
  | "aborted";

/** The normalised outcome the session acts on. */
export type AuthDecision =
  | {
      readonly allowed: true;
      readonly info: NormalizedAuthInfo;
      /** The provider that allowed the attempt (also on a cache hit). */
      readonly provider: string;
      /** Answered from the pipeline's cache, without asking the provider. */
      readonly cached?: boolean;
      /** `false`: never cached, never shared with another attempt (the provider or its AuthInfo opted out). */
      readonly reusable?: false;
    }
  | {
      readonly allowed: false;
      readonly reason: AuthDenyReason;
      readonly provider?: string;
      /** Diagnostic for logs; never contains the password. */
      readonly detail?: string;
      readonly cached?: boolean;
      /** `false`: never cached, never shared with another attempt (a provider that opted out of reuse answered). */
      readonly reusable?: false;
    };

/** An allowed attempt's AuthInfo after normalizeAuthResult: groups always present. */
export interface NormalizedAuthInfo {
  readonly identities: readonly Identity[];
  readonly groups: readonly string[];
}

/** What the session asks; the pipeline (deadline, cache, chain, ...) answers. */
export interface Authenticator {
  /** `signal` aborts when the client leaves or the session's deadline passes. Never rejects. */
  decide(request: AuthRequest, signal?: AbortSignal): Promise<AuthDecision>;
}
