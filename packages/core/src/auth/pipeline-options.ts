import { GatehouseError } from "../errors/gatehouse-error.js";
import { z } from "zod";
import { formatIssues } from "../config/issues.js";
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

const integerAtLeast = (min: number) => {
  const message = `expected an integer ≥ ${String(min)}`;
  return z.number({ error: message }).int(message).min(min, message);
};
const milliseconds = z
  .number({ error: "expected a non-negative number of ms" })
  .nonnegative("expected a non-negative number of ms");

/** AuthPipelineOptions as a program gives them (camelCase, milliseconds); the config's form is pipeline-settings.ts. */
const pipelineOptionsSchema = z.object({
  chain: z.array(
    z.object({
      // Configs can come from plain JavaScript: the types alone do not guarantee a provider.
      provider: z.custom<AuthProvider>(
        (value) => typeof (value as Partial<AuthProvider> | undefined)?.authenticate === "function",
        "expected an AuthProvider",
      ),
      onError: z.enum(["deny", "next"], { error: 'expected "deny" or "next"' }).optional(),
      fingerprint: z.string({ error: "expected a string" }).optional(),
      maxConcurrent: integerAtLeast(1).optional(),
      maxQueue: integerAtLeast(0).optional(),
    }),
  ),
  timeoutMs: z
    .number({ error: "expected a positive number of ms" })
    .positive("expected a positive number of ms")
    .optional(),
  cache: z
    .union([
      z.literal(false),
      z.object({
        ttlMs: milliseconds.optional(),
        negativeTtlMs: milliseconds.optional(),
        maxEntries: integerAtLeast(1).optional(),
      }),
    ])
    .optional(),
  throttle: z
    .union([
      z.literal(false),
      z.object({
        maxFailures: integerAtLeast(1).optional(),
        windowMs: milliseconds.optional(),
        blockMs: milliseconds.optional(),
        maxTracked: integerAtLeast(1).optional(),
        familiarMs: milliseconds.optional(),
      }),
    ])
    .optional(),
  now: z.custom<() => number>((value) => typeof value === "function", "expected a function").optional(),
});

/** Fills in the defaults; throws an AuthConfigError naming every bad value. */
export function resolvePipelineOptions(input: AuthPipelineOptions): ResolvedPipelineOptions {
  const result = pipelineOptionsSchema.safeParse(input);
  if (!result.success) throw new AuthConfigError(formatIssues(result.error.issues, ""));
  const options = result.data;
  const defaults = AUTH_PIPELINE_DEFAULTS;
  const chain = options.chain.map((entry): ResolvedChainEntry => ({
    provider: entry.provider,
    fingerprint: entry.fingerprint !== undefined ? `config:${entry.fingerprint}` : identityFingerprint(entry.provider),
    onError: entry.onError ?? "deny",
    maxConcurrent: entry.maxConcurrent ?? defaults.maxConcurrent,
    maxQueue: entry.maxQueue ?? defaults.maxQueue,
  }));
  const cacheOptions = options.cache === false ? undefined : (options.cache ?? {});
  const cache = cacheOptions && {
    ttlMs: cacheOptions.ttlMs ?? defaults.cache.ttlMs,
    negativeTtlMs: cacheOptions.negativeTtlMs ?? defaults.cache.negativeTtlMs,
    maxEntries: cacheOptions.maxEntries ?? defaults.cache.maxEntries,
  };
  const throttleOptions = options.throttle === false ? undefined : (options.throttle ?? {});
  const throttle = throttleOptions && {
    maxFailures: throttleOptions.maxFailures ?? defaults.throttle.maxFailures,
    windowMs: throttleOptions.windowMs ?? defaults.throttle.windowMs,
    blockMs: throttleOptions.blockMs ?? defaults.throttle.blockMs,
    maxTracked: throttleOptions.maxTracked ?? defaults.throttle.maxTracked,
    familiarMs: throttleOptions.familiarMs ?? defaults.throttle.familiarMs,
  };
  const cacheUseful = cache !== undefined && (cache.ttlMs > 0 || cache.negativeTtlMs > 0);
  return {
    chain,
    timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
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
