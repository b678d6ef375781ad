import type { Prepared } from "../commands/prepare.js";

/** Rules loaded: the top-level policy's plus every listener's own. */
export function policyRuleCount(prepared: Pick<Prepared, "policy" | "listeners">): number {
  const own = prepared.listeners.reduce((sum, listener) => sum + (listener.policy?.rules?.length ?? 0), 0);
  return (prepared.policy?.rules?.length ?? 0) + own;
}

/** `3 policy rule(s) loaded (default deny)` or that no policy is configured. */
export function policySummary(prepared: Pick<Prepared, "policy" | "listeners">): string {
  const anyPolicy =
    prepared.policy !== undefined || prepared.listeners.some((listener) => listener.policy !== undefined);
  if (!anyPolicy) return "no policy (every request allowed)";
  const fallback = prepared.policy?.default ?? "deny";
  return `${String(policyRuleCount(prepared))} policy rule(s) loaded (default ${fallback})`;
}
