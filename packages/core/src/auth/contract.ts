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
export type IdentityContext = (typeof IDENTITY_CONTEXTS)[number];

export interface ConnMeta {
  /** The client's socket address, `ip:port` (`[v6]:port` for IPv6). */
  readonly peer_address: string;
  /** The listener's socket address the client reached, same form. */
  readonly local_address: string;
}

export interface AuthRequest {
  readonly username: string;
  readonly password: string;
  readonly connMeta: ConnMeta;
}

export interface Identity {
  readonly identity: string;
  readonly context: IdentityContext;
}

export interface AuthInfo {
  readonly identities: readonly Identity[];
  readonly groups?: readonly string[];
}

export type AuthResult = boolean | AuthInfo;

export interface AuthProvider {
  readonly name: string;
  /**
   * True when the decision may depend on `connMeta` (a script or remote service that sees the
   * client's address). The pipeline then caches and coalesces per username, password, client IP
   * and listener address instead of per username and password alone. Default false.
   */
  readonly usesConnMeta?: boolean;
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
    }
  | {
      readonly allowed: false;
      readonly reason: AuthDenyReason;
      readonly provider?: string;
      /** Diagnostic for logs; never contains the password. */
      readonly detail?: string;
      readonly cached?: boolean;
    };

export interface NormalizedAuthInfo {
  readonly identities: readonly Identity[];
  readonly groups: readonly string[];
}

/** What the session asks; the pipeline (deadline, cache, chain, ...) answers. */
export interface Authenticator {
  /** `signal` aborts when the client leaves or the session's deadline passes. Never rejects. */
  decide(request: AuthRequest, signal?: AbortSignal): Promise<AuthDecision>;
}
