import { GatehouseError } from "../errors/gatehouse-error.js";
import type { AuthProvider } from "./contract.js";

/** One provider in an AuthPipeline's chain, with how its failures are handled and its concurrency limits. */
export interface AuthChainEntry {
  readonly provider: AuthProvider;
  /**
   * When this provider fails (throws, rejects, answers nonsense, misses the deadline, is
   * overloaded): `"deny"` stops the chain and denies; `"next"` asks the next provider.
   */
  readonly onError?: "deny" | "next";
  /** Calls to this provider at once. */
  readonly maxConcurrent?: number;
  /** Calls waiting for a slot; beyond that an attempt is denied at once (`overloaded`). */
  readonly maxQueue?: number;
  /**
   * What identifies this provider's configuration across AuthPipeline.reconfigure: decisions
   * it made stay cached while a member with the same fingerprint is in the chain. Give the
   * same string only for a provider that decides exactly as the old one did (the server
   * uses the instance name and its validated config). Default: the provider object itself.
   */
  readonly fingerprint?: string;
}

/** The pipeline's decision cache, keyed by a keyed hash of the credentials (never the plaintext); errors are never cached. */
export interface AuthCacheOptions {
  /** How long an allow is remembered; 0 disables the positive cache. */
  readonly ttlMs?: number;
  /** How long a bad-credentials denial is remembered; 0 (the default) remembers none. */
  readonly negativeTtlMs?: number;
  readonly maxEntries?: number;
}

/**
 * Failure throttling: too many bad-credential denials from one client address refuse that
 * address for a while (`throttled`); too many for one username refuse it to the addresses that
 * failed for it (not to familiar addresses, nor to those that never failed).
 */
export interface AuthThrottleOptions {
  /** Bad-credential denials within `windowMs` after which a client address or username is refused. */
  readonly maxFailures?: number;
  readonly windowMs?: number;
  /** How long the refusal lasts. */
  readonly blockMs?: number;
  /**
   * Entries of each throttle table at most (client addresses, usernames, suspect and familiar
   * username/address pairs); the least recent go first.
   */
  readonly maxTracked?: number;
  /**
   * How long a successful login makes its client address familiar for that username: a
   * blocked username is not refused there (smart lockout).
   */
  readonly familiarMs?: number;
}

/** Everything an AuthPipeline needs: the provider chain, the per-provider deadline, the cache and the throttle. */
export interface AuthPipelineOptions {
  /** Providers in the order they are asked. */
  readonly chain: readonly AuthChainEntry[];
  /** Deadline per provider, waiting for a concurrency slot included. */
  readonly timeoutMs?: number;
  readonly cache?: AuthCacheOptions | false;
  readonly throttle?: AuthThrottleOptions | false;
  /** The clock for cache TTLs and throttle windows (not for deadlines, which are timers). */
  readonly now?: () => number;
}

/** The pipeline's defaults: 5 s per provider, 64 concurrent calls and 256 queued per provider, a 60 s positive cache, 10 failures a minute before a one-minute block, an address familiar for a day after a login. */
export const AUTH_PIPELINE_DEFAULTS = {
  timeoutMs: 5000,
  maxConcurrent: 64,
  maxQueue: 256,
  cache: { ttlMs: 60_000, negativeTtlMs: 0, maxEntries: 10_000 },
  throttle: { maxFailures: 10, windowMs: 60_000, blockMs: 60_000, maxTracked: 10_000, familiarMs: 86_400_000 },
} as const;

/** Invalid pipeline options; `problems` names every bad value with its path. */
export class AuthConfigError extends GatehouseError {
  constructor(problems: readonly string[]) {
    super("GH_CONFIG_AUTH_INVALID", problems);
    this.name = "AuthConfigError";
  }
}

export interface ResolvedChainEntry {
  readonly provider: AuthProvider;
  readonly onError: "deny" | "next";
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly fingerprint: string;
}

export interface ResolvedPipelineOptions {
  readonly chain: readonly ResolvedChainEntry[];
  readonly timeoutMs: number;
  readonly cache: Required<AuthCacheOptions> | undefined;
  readonly throttle: Required<AuthThrottleOptions> | undefined;
  readonly now: () => number;
}

/** Fills in the defaults; throws an AuthConfigError naming every bad value. */
export function resolvePipelineOptions(options: AuthPipelineOptions): ResolvedPipelineOptions {
  const check = new Checker();
  const defaults = AUTH_PIPELINE_DEFAULTS;
  const chain = options.chain.map((entry, index): ResolvedChainEntry => {
    const path = `chain[${String(index)}]`;
    // Configs can come from plain JavaScript: the types alone do not guarantee a provider.
    const provider = entry.provider as Partial<AuthProvider> | undefined;
    if (typeof provider?.authenticate !== "function") check.problem(`${path}.provider: expected an AuthProvider`);
    const onError: unknown = entry.onError ?? "deny";
    if (onError !== "deny" && onError !== "next") check.problem(`${path}.onError: expected "deny" or "next"`);
    const fingerprint: unknown = entry.fingerprint;
    if (fingerprint !== undefined && typeof fingerprint !== "string") {
      check.problem(`${path}.fingerprint: expected a string`);
    }
    return {
      provider: entry.provider,
      fingerprint: typeof fingerprint === "string" ? `config:${fingerprint}` : identityFingerprint(entry.provider),
      onError: onError === "next" ? "next" : "deny",
      maxConcurrent: check.integer(`${path}.maxConcurrent`, entry.maxConcurrent ?? defaults.maxConcurrent, 1),
      maxQueue: check.integer(`${path}.maxQueue`, entry.maxQueue ?? defaults.maxQueue, 0),
    };
  });
  const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) check.problem(`timeoutMs: expected a positive number of ms`);
  const cacheOptions = options.cache === false ? undefined : (options.cache ?? {});
  const cache = cacheOptions && {
    ttlMs: check.milliseconds("cache.ttlMs", cacheOptions.ttlMs ?? defaults.cache.ttlMs),
    negativeTtlMs: check.milliseconds(
      "cache.negativeTtlMs",
      cacheOptions.negativeTtlMs ?? defaults.cache.negativeTtlMs,
    ),
    maxEntries: check.integer("cache.maxEntries", cacheOptions.maxEntries ?? defaults.cache.maxEntries, 1),
  };
  const throttleOptions = options.throttle === false ? undefined : (options.throttle ?? {});
  const throttle = throttleOptions && {
    maxFailures: check.integer("throttle.maxFailures", throttleOptions.maxFailures ?? defaults.throttle.maxFailures, 1),
    windowMs: check.milliseconds("throttle.windowMs", throttleOptions.windowMs ?? defaults.throttle.windowMs),
    blockMs: check.milliseconds("throttle.blockMs", throttleOptions.blockMs ?? defaults.throttle.blockMs),
    maxTracked: check.integer("throttle.maxTracked", throttleOptions.maxTracked ?? defaults.throttle.maxTracked, 1),
    familiarMs: check.milliseconds("throttle.familiarMs", throttleOptions.familiarMs ?? defaults.throttle.familiarMs),
  };
  check.throwIfAny();
  const cacheUseful = cache !== undefined && (cache.ttlMs > 0 || cache.negativeTtlMs > 0);
  return {
    chain,
    timeoutMs,
    cache: cacheUseful ? cache : undefined,
    throttle,
    now: options.now ?? Date.now,
  };
}

const objectIds = new WeakMap<object, string>();
let nextObjectId = 0;

/** A provider given without a fingerprint is "unchanged" only while it is the same object. */
function identityFingerprint(provider: unknown): string {
  if (typeof provider !== "object" || provider === null) return "object:none";
  let id = objectIds.get(provider);
  if (id === undefined) {
    id = `object:${String(++nextObjectId)}`;
    objectIds.set(provider, id);
  }
  return id;
}

class Checker {
  private readonly problems: string[] = [];

  problem(text: string): void {
    this.problems.push(text);
  }

  integer(path: string, value: number, min: number): number {
    if (!Number.isSafeInteger(value) || value < min) this.problem(`${path}: expected an integer ≥ ${String(min)}`);
    return value;
  }

  milliseconds(path: string, value: number): number {
    if (!Number.isFinite(value) || value < 0) this.problem(`${path}: expected a non-negative number of ms`);
    return value;
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new AuthConfigError(this.problems);
  }
}
