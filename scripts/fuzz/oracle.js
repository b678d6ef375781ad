// Judges one played case: replies well-formed, no tunnel to a destination the proxy must
// refuse; and collects what the end-of-run checks need (bound ports, passwords sent).
import { Buffer } from "node:buffer";
import { SECRET_PATTERN } from "./cases.js";
import { describeRequest, mustRefuse } from "./model.js";
import { checkReplies } from "./replies.js";

/** @returns {{failures: string[], reply?: number, boundPort?: number, checked: string[], unchecked: string[]}} */
export function judgeCase(delivered, model, outcome) {
  const verdict = checkReplies(outcome.received, outcome.closed, model);
  const failures = verdict.problems.map((problem) => `reply: ${problem}`);
  if (verdict.reply === 0 && model.request !== undefined) {
    const why = mustRefuse(model.request);
    if (why !== undefined) failures.push(`tunnel to a refused destination (${why}): ${describeRequest(model.request)}`);
  }
  return {
    failures,
    reply: verdict.reply,
    boundPort: verdict.reply === 0 ? verdict.boundPort : undefined,
    ...secrets(delivered, model),
  };
}

/**
 * Password tokens the proxy parsed as a password (must never be logged), and tokens that it
 * saw in another field (a username or name may legitimately be logged, whatever it contains).
 */
function secrets(delivered, model) {
  const text = Buffer.from(delivered).toString("latin1");
  if (model.password === undefined) return { checked: [], unchecked: text.match(SECRET_PATTERN) ?? [] };
  const [start, end] = model.password;
  const inside = text.slice(start, end).match(SECRET_PATTERN) ?? [];
  const outside = (text.slice(0, start) + "\0" + text.slice(end)).match(SECRET_PATTERN) ?? [];
  return { checked: inside, unchecked: outside };
}

/** Counts the complete replies in what the proxy sent so far (for the client's wait). */
export function countReplies(model) {
  return (received) => checkReplies(received, false, model).replies;
}
