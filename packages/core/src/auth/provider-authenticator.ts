import type { AuthDecision, AuthProvider, AuthRequest, Authenticator } from "./contract.js";
import { normalizeAuthResult } from "./normalize.js";
import { redactSecret } from "./redact.js";

export const DEFAULT_AUTH_TIMEOUT_MS = 5000;

export class AuthTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`auth provider did not answer within ${String(timeoutMs)} ms`);
    this.name = "AuthTimeoutError";
  }
}

const TIMED_OUT = Symbol("timed out");

/**
 * Asks one provider under a deadline and applies the seed's result table. Late answers are
 * ignored; a throw, a rejection, an invalid shape or a missed deadline all deny.
 */
export class ProviderAuthenticator implements Authenticator {
  constructor(
    private readonly provider: AuthProvider | undefined,
    private readonly timeoutMs = DEFAULT_AUTH_TIMEOUT_MS,
  ) {}

  async decide(request: AuthRequest, sessionSignal?: AbortSignal): Promise<AuthDecision> {
    const provider = this.provider;
    if (provider === undefined) return { allowed: false, reason: "no_provider" };
    const controller = new AbortController();
    const abortFromSession = (): void => controller.abort(sessionSignal?.reason);
    sessionSignal?.addEventListener("abort", abortFromSession, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs, TIMED_OUT);
    });
    try {
      const result = await Promise.race([callProvider(provider, request, controller.signal), deadline]);
      if (result === TIMED_OUT) {
        controller.abort(new AuthTimeoutError(this.timeoutMs));
        return {
          allowed: false,
          reason: "backend_timeout",
          provider: provider.name,
          detail: `no answer within ${String(this.timeoutMs)} ms`,
        };
      }
      const outcome = normalizeAuthResult(result, request.username);
      if (outcome.ok) return { allowed: true, info: outcome.info, provider: provider.name };
      return {
        allowed: false,
        reason: outcome.invalid ? "invalid_response" : "bad_credentials",
        provider: provider.name,
        detail: redactSecret(outcome.detail, request.password),
      };
    } catch (error) {
      return {
        allowed: false,
        reason: "backend_error",
        provider: provider.name,
        detail: redactSecret(describeError(error), request.password),
      };
    } finally {
      clearTimeout(timer);
      sessionSignal?.removeEventListener("abort", abortFromSession);
    }
  }
}

function callProvider(provider: AuthProvider, request: AuthRequest, signal: AbortSignal): Promise<unknown> {
  try {
    return Promise.resolve(provider.authenticate(request, signal));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `non-Error thrown: ${typeof error}`;
}
