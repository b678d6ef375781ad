import type { AuthDecision, AuthProvider, AuthRequest, Authenticator } from "./contract.js";
import { normalizeAuthResult } from "./normalize.js";
import { redactSecret } from "./redact.js";

/** The deadline for one provider call when none is configured, in milliseconds. */
export const DEFAULT_AUTH_TIMEOUT_MS = 5000;

/** A provider missed its deadline; the attempt is denied as `backend_timeout`. */
export class AuthTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`auth provider did not answer within ${String(timeoutMs)} ms`);
    this.name = "AuthTimeoutError";
  }
}

const TIMED_OUT = Symbol("timed out");
const CALLER_LEFT = Symbol("caller left");

/** How askProvider calls a provider: its deadline, the caller's signal and a settle callback. */
export interface AskProviderOptions {
  readonly timeoutMs: number;
  /** Aborts the provider's signal (the caller left). */
  readonly signal?: AbortSignal | undefined;
  /**
   * Called once the provider's own promise settles, which may be after the deadline (a
   * concurrency slot stays taken until the backend is really done with the call), or at
   * once when the provider is not called at all.
   */
  readonly onSettled?: () => void;
}

/**
 * Asks one provider under a deadline and applies the seed's result table. Late answers are
 * ignored; a throw, a rejection, an invalid shape or a missed deadline all deny; when the
 * caller's signal aborts, the provider's signal aborts and the answer is `aborted` at once.
 * Never rejects.
 */
export async function askProvider(
  provider: AuthProvider,
  request: AuthRequest,
  options: AskProviderOptions,
): Promise<AuthDecision> {
  const { timeoutMs, signal: callerSignal, onSettled } = options;
  if (callerSignal?.aborted === true) {
    onSettled?.();
    return callerLeftDecision(provider);
  }
  const controller = new AbortController();
  let callerLeft: ((value: typeof CALLER_LEFT) => void) | undefined;
  const left = new Promise<typeof CALLER_LEFT>((resolve) => (callerLeft = resolve));
  const abortFromCaller = (): void => {
    controller.abort(callerSignal?.reason);
    callerLeft?.(CALLER_LEFT);
  };
  callerSignal?.addEventListener("abort", abortFromCaller, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, TIMED_OUT);
  });
  try {
    const call = callProvider(provider, request, controller.signal);
    if (onSettled !== undefined) call.then(onSettled, onSettled);
    const result = await Promise.race([call, deadline, left]);
    if (result === CALLER_LEFT) return callerLeftDecision(provider);
    if (result === TIMED_OUT) {
      controller.abort(new AuthTimeoutError(timeoutMs));
      return {
        allowed: false,
        reason: "backend_timeout",
        provider: provider.name,
        detail: `no answer within ${String(Math.round(timeoutMs))} ms`,
      };
    }
    const outcome = normalizeAuthResult(result, request.username);
    if (outcome.ok) {
      const decision: AuthDecision = { allowed: true, info: outcome.info, provider: provider.name };
      return outcome.reusable && provider.reusable !== false ? decision : { ...decision, reusable: false };
    }
    const denial: AuthDecision = {
      allowed: false,
      reason: outcome.invalid ? "invalid_response" : "bad_credentials",
      provider: provider.name,
      detail: redactSecret(outcome.detail, request.password),
    };
    return provider.reusable === false ? { ...denial, reusable: false } : denial;
  } catch (error) {
    return {
      allowed: false,
      reason: "backend_error",
      provider: provider.name,
      detail: redactSecret(describeError(error), request.password),
    };
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener("abort", abortFromCaller);
  }
}

/** One provider under a deadline, nothing else (no cache, no chain): see AuthPipeline for those. */
export class ProviderAuthenticator implements Authenticator {
  constructor(
    private readonly provider: AuthProvider | undefined,
    private readonly timeoutMs = DEFAULT_AUTH_TIMEOUT_MS,
  ) {}

  decide(request: AuthRequest, signal?: AbortSignal): Promise<AuthDecision> {
    if (this.provider === undefined) return Promise.resolve({ allowed: false, reason: "no_provider" });
    return askProvider(this.provider, request, { timeoutMs: this.timeoutMs, signal });
  }
}

function callerLeftDecision(provider: AuthProvider): AuthDecision {
  return { allowed: false, reason: "aborted", provider: provider.name, detail: "the caller left before an answer" };
}

function callProvider(provider: AuthProvider, request: AuthRequest, signal: AbortSignal): Promise<unknown> {
  try {
    return Promise.resolve(provider.authenticate(request, signal));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `non-Error thrown: ${typeof error}`;
}
