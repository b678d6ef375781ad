import type { Logger } from "../log.js";
import type { ProxyStats } from "../stats.js";
import type { ProxyHooks } from "./context.js";

export type HookName = keyof ProxyHooks;

/** A failing hook is logged at most this often (per hook), with the count since the last line. */
export const HOOK_ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * Wraps each hook so that a throw (or a rejected promise, from a hook written as async) is
 * counted in `stats.hookErrors` and logged, rate-limited, instead of ending the session's
 * path or the process: hooks are observers, and an observer's bug must not take the proxy down.
 */
export function guardHooks(
  hooks: ProxyHooks,
  logger: Logger,
  stats: ProxyStats,
  now: () => number = Date.now,
): ProxyHooks {
  const guard = <E>(name: HookName, call: (event: E) => unknown): ((event: E) => void) => {
    const report = failureReporter(name, logger, stats, now);
    return (event) => {
      try {
        const result = call(event);
        if (isThenable(result)) result.then(undefined, report);
      } catch (error) {
        report(error);
      }
    };
  };
  const onAuthDecision = hooks.onAuthDecision?.bind(hooks);
  const onPolicyDenied = hooks.onPolicyDenied?.bind(hooks);
  const onSessionEnd = hooks.onSessionEnd?.bind(hooks);
  return {
    ...(onAuthDecision !== undefined && { onAuthDecision: guard("onAuthDecision", onAuthDecision) }),
    ...(onPolicyDenied !== undefined && { onPolicyDenied: guard("onPolicyDenied", onPolicyDenied) }),
    ...(onSessionEnd !== undefined && { onSessionEnd: guard("onSessionEnd", onSessionEnd) }),
  };
}

function failureReporter(
  name: HookName,
  logger: Logger,
  stats: ProxyStats,
  now: () => number,
): (error: unknown) => void {
  let lastLogAt = -Infinity;
  let sinceLastLog = 0;
  return (error) => {
    stats.hookErrors[name]++;
    sinceLastLog++;
    const at = now();
    if (at - lastLogAt < HOOK_ERROR_LOG_INTERVAL_MS) return;
    lastLogAt = at;
    logger.error(
      {
        event: "hook_error",
        hook: name,
        failures: sinceLastLog,
        hook_errors_total: stats.hookErrors[name],
        err: describe(error),
      },
      `the ${name} hook failed; the proxy carries on (logged at most once per ${String(HOOK_ERROR_LOG_INTERVAL_MS / 1000)} s)`,
    );
    sinceLastLog = 0;
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `non-Error thrown: ${typeof error}`;
}
