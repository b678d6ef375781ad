import { SemaphoreQueueFullError } from "../util/semaphore.js";
import type { Release, Semaphore } from "../util/semaphore.js";

export type SlotOutcome =
  | { readonly granted: true; readonly release: Release }
  | { readonly granted: false; readonly why: "queue_full" | "wait_timeout" | "aborted" };

const WAIT_TIMEOUT = new Error("no free slot in time");

/**
 * A slot of a provider's concurrency limiter, waited for at most `maxWaitMs` or until `signal`
 * aborts. A caller that finds the queue full is refused at once, so an overloaded backend is
 * not buried deeper.
 */
export async function acquireSlot(limiter: Semaphore, signal: AbortSignal, maxWaitMs: number): Promise<SlotOutcome> {
  if (signal.aborted) return { granted: false, why: "aborted" };
  const wait = new AbortController();
  const timer = setTimeout(() => wait.abort(WAIT_TIMEOUT), maxWaitMs);
  const onAbort = (): void => wait.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return { granted: true, release: await limiter.acquire(wait.signal) };
  } catch (error) {
    if (error instanceof SemaphoreQueueFullError) return { granted: false, why: "queue_full" };
    return { granted: false, why: wait.signal.reason === WAIT_TIMEOUT ? "wait_timeout" : "aborted" };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}
