import type { AuthDecision, AuthDenyReason } from "./contract.js";

/** The three outcomes of an auth attempt (issue 3): allowed, refused, or the backend failed. */
export type AuthOutcome = "allow" | "deny" | "error";

/** The `reason` label of an allowed attempt. */
export const ALLOW_REASON = "ok";

/**
 * Which outcome a deny reason is: `deny` when the attempt itself was refused (bad credentials,
 * throttled, undecodable, nothing configured, or the client gave up), `error` when the backend
 * could not answer. The switch is exhaustive, so a new core reason fails to compile here.
 */
export function classifyDenyReason(reason: AuthDenyReason): Exclude<AuthOutcome, "allow"> {
  switch (reason) {
    case "bad_credentials":
    case "throttled":
    case "invalid_utf8":
    case "no_provider":
    case "aborted":
      return "deny";
    case "backend_error":
    case "backend_timeout":
    case "backend_unavailable":
    case "invalid_response":
    case "overloaded":
      return "error";
  }
}

const KNOWN_REASONS: ReadonlySet<string> = new Set<AuthDenyReason>([
  "bad_credentials",
  "throttled",
  "invalid_utf8",
  "no_provider",
  "aborted",
  "backend_error",
  "backend_timeout",
  "backend_unavailable",
  "invalid_response",
  "overloaded",
]);

/** Outcome and reason label values of one decision; an unknown reason (plain JavaScript) is an error. */
export function classifyAuthDecision(decision: AuthDecision): { outcome: AuthOutcome; reason: string } {
  if (decision.allowed) return { outcome: "allow", reason: ALLOW_REASON };
  if (!KNOWN_REASONS.has(decision.reason)) return { outcome: "error", reason: "unknown" };
  return { outcome: classifyDenyReason(decision.reason), reason: decision.reason };
}
