import type { AuthProvider } from "@gatehouse-proxy/core";

/**
 * Registers one test: node:test's `test`, `it` or any runner's function with the same
 * `(name, fn)` shape. The suite calls it once per check, so wrap the call in a `describe`
 * to group the checks.
 */
/** What node:test hands a test body: `skip(message)` marks the running test skipped. */
export interface CheckContext {
  skip?(message?: string): void;
}

export type TestRegistrar = ((name: string, fn: (context: CheckContext) => Promise<void>) => unknown) & {
  /** `test.skip` / `it.skip`, when the runner has it: skipped checks are reported as skipped. */
  readonly skip?: (name: string, fn: () => Promise<void>) => unknown;
};

/**
 * Creates a fresh provider, as the host would have it before init(): the suite calls init()
 * (when present) and close() around every check.
 */
export type ProviderFactory = () => AuthProvider | Promise<AuthProvider>;

/** The names of the suite's checks, for `skip`. */
export const COMPLIANCE_CHECKS = [
  "name",
  "allow",
  "wrong-password",
  "unknown-user",
  "empty-credentials",
  "long-credentials",
  "odd-bytes",
  "trailing-nul",
  "abort-before-call",
  "abort-mid-flight",
  "concurrency",
  "close",
  "health",
  "broken-backend",
] as const;
export type ComplianceCheck = (typeof COMPLIANCE_CHECKS)[number];

export interface ComplianceFixtures {
  /** A user the provider allows, and what it must answer for them. */
  readonly valid: {
    readonly username: string;
    readonly password: string;
    readonly expect?: {
      /** The identity of the first (or only) identity; default: the username. */
      readonly identity?: string;
      /** The groups, in any order; default: not checked. Give [] to require none. */
      readonly groups?: readonly string[];
    };
  };
  /**
   * For a provider whose answers must not be reused (one-time codes; `reusable: false` on the
   * provider or its AuthInfo): returns valid credentials not used before, with the same
   * expectations as `valid`. When given, every call that expects an allow takes fresh ones, and
   * `allow` also checks that a used code is denied when presented again. Required when
   * `provider.reusable` is false.
   */
  readonly nextValid?: () => { readonly username: string; readonly password: string };
  /** A password that is wrong for `valid.username`. */
  readonly wrongPassword: string;
  /** A username the backend does not know. */
  readonly unknownUser: string;
  /**
   * A provider whose backend is down or broken (a closed port, a missing file). Its
   * authenticate() must reject — never answer `false` — and its health() must reject; neither
   * error may carry the password. Without it, the `broken-backend` check is skipped.
   */
  readonly brokenFactory?: ProviderFactory;
  /**
   * A provider whose backend accepts the request but never answers (a TCP server that reads
   * and stays silent). `abort-mid-flight` aborts a call to it and expects it to settle within
   * `abortSettleMs`. Without it, the normal factory is used, which proves less for a fast backend.
   */
  readonly stalledFactory?: ProviderFactory;
  /**
   * The provider's log lines so far (e.g. `recordingLogger().lines` given to
   * providerFromPlugin): after every check, no line may contain a fixture password.
   */
  readonly logs?: () => readonly string[];
  /** Checks the provider cannot pass for a documented reason: check name → the reason. */
  readonly skip?: Partial<Record<ComplianceCheck, string>>;
  /** How many calls `concurrency` makes at once (default 1000). */
  readonly concurrency?: number;
  /**
   * How long one call (and init(), health(), close()) may take before the check fails as hung
   * (default 10 s). The calls of `concurrency` have their own deadline: `concurrencyTimeoutMs`.
   */
  readonly timeoutMs?: number;
  /**
   * The bound on the `concurrency` check as a whole (default 600 s, or `timeoutMs` if larger).
   * Its calls may wait in line (1000 calls to a provider that runs scrypt or bcrypt wait for the
   * KDF in turn: minutes on a small, busy machine), so the check fails as hung only when no call settles for
   * `timeoutMs` while some are pending, or when this bound passes.
   */
  readonly concurrencyTimeoutMs?: number;
  /** How soon an aborted call must settle (default 2 s). */
  readonly abortSettleMs?: number;
}
