import { z } from "zod";
import { count, duration } from "../config/fields.js";
import { formatIssues } from "../config/issues.js";
import { parseDuration } from "../util/duration.js";
import type { Duration } from "../util/duration.js";
import { AuthConfigError, resolvePipelineOptions } from "./pipeline-options.js";
import type { FailureLogOptions } from "./failure-log.js";
import type { AuthCacheOptions, AuthChainEntry, AuthPipelineOptions, AuthThrottleOptions } from "./pipeline-options.js";

/**
 * The pipeline's settings as configured (`auth:` minus the providers; durations as `500ms`,
 * `60s`, `5m` or ms): the one definition of these keys, used by createProxyServer and composed
 * into the server's config file schema.
 */
export const authPipelineSettingsSchema = z.strictObject({
  /** Deadline per provider; default 5s. */
  timeout: duration.optional(),
  /** The decision cache; `false` disables it. */
  cache: z
    .union([
      z.literal(false),
      z.strictObject({
        ttl: duration.optional(),
        negative_ttl: duration.optional(),
        max_entries: count.optional(),
      }),
    ])
    .optional(),
  /** Failure throttling per client address and per username (smart lockout); `false` disables it. */
  throttle: z
    .union([
      z.literal(false),
      z.strictObject({
        max_failures: count.optional(),
        window: duration.optional(),
        block: duration.optional(),
        max_tracked: count.optional(),
        /** How long a login keeps its client address familiar for that username; default 24h. */
        familiar_for: duration.optional(),
      }),
    ])
    .optional(),
});

/** The pipeline's settings as written in config (see authPipelineSettingsSchema). */
export type AuthPipelineSettings = z.input<typeof authPipelineSettingsSchema>;

/**
 * Validates the settings (problems under `auth.`) and converts them, with the chain, to the
 * pipeline's options (milliseconds, camelCase).
 */
export function pipelineOptionsFromSettings(
  settings: AuthPipelineSettings,
  chain: readonly AuthChainEntry[],
): AuthPipelineOptions {
  const result = authPipelineSettingsSchema.safeParse({
    timeout: settings.timeout,
    cache: settings.cache,
    throttle: settings.throttle,
  });
  if (!result.success) throw new AuthConfigError(formatIssues(result.error.issues, "auth"));
  const { timeout, cache, throttle } = result.data;
  const ms = (value: Duration | undefined): number | undefined =>
    value === undefined ? undefined : parseDuration(value);
  return compact({
    chain,
    timeoutMs: ms(timeout),
    cache:
      cache === undefined || cache === false
        ? cache
        : compact<AuthCacheOptions>({
            ttlMs: ms(cache.ttl),
            negativeTtlMs: ms(cache.negative_ttl),
            maxEntries: cache.max_entries,
          }),
    throttle:
      throttle === undefined || throttle === false
        ? throttle
        : compact<AuthThrottleOptions>({
            maxFailures: throttle.max_failures,
            windowMs: ms(throttle.window),
            blockMs: ms(throttle.block),
            maxTracked: throttle.max_tracked,
            familiarMs: ms(throttle.familiar_for),
          }),
  });
}

/** Leaves out the keys whose value is undefined (the options are exactOptionalPropertyTypes). */
function compact<T extends object>(value: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}

/**
 * The failure throttle's limits and windows for these settings (defaults filled in), or
 * undefined when `throttle: false`: for a throttle kept outside the pipeline (the `workers`
 * primary's).
 */
export function throttleOptionsFromSettings(
  settings: AuthPipelineSettings,
): Omit<FailureLogOptions, "now"> | undefined {
  return resolvePipelineOptions(pipelineOptionsFromSettings(settings, [])).throttle;
}
