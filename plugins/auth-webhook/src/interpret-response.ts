import { normalizeAuthResult } from "@gatehouse-proxy/core";
import type { AuthResult } from "@gatehouse-proxy/core";
import { WebhookError } from "./webhook-error.js";

/**
 * The answer, nginx auth_request style: 2xx allows (its body, if any, is `true`, `false` or an
 * AuthInfo); 401 and 403 deny; anything else is an error. Messages never quote the body (a
 * receiver might echo the request).
 */
export function interpretResponse(status: number, body: Buffer, username: string, endpoint: string): AuthResult {
  if (status === 401 || status === 403) return false;
  if (status >= 300 && status < 400) {
    throw new WebhookError("redirect", `${endpoint} answered ${status}: redirects are not followed`);
  }
  if (status < 200 || status >= 300) throw new WebhookError("status", `${endpoint} answered ${status}`);
  const text = body.toString("utf8").trim();
  if (text === "") return true;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid(endpoint, status, "the body is not JSON");
  }
  if (parsed === true || parsed === false) return parsed;
  const outcome = normalizeAuthResult(parsed, username);
  if (outcome.ok) {
    const { identities, groups } = outcome.info;
    // A receiver's `reusable: false` (a one-time code) must reach the pipeline, or it is cached.
    return outcome.reusable ? { identities, groups } : { identities, groups, reusable: false };
  }
  if (outcome.invalid) throw invalid(endpoint, status, outcome.detail);
  return false;
}

function invalid(endpoint: string, status: number, detail: string): WebhookError {
  return new WebhookError(
    "invalid_response",
    `${endpoint} answered ${status} with a body that is not true, false or an AuthInfo: ${detail}`,
  );
}
