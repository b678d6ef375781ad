/** What a caller gets when its own signal aborted before the shared call finished. */
export const CALLER_ABORTED = Symbol("caller aborted");

interface SharedCall<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  /** Callers still waiting; the call is abandoned (and aborted) when the last one leaves. */
  waiters: number;
}

/**
 * Identical work in flight is done once: callers with the same key share one call. A caller
 * that aborts stops waiting without disturbing the others; only when every caller has left
 * is the shared call's signal aborted.
 */
export class InFlight<T> {
  private readonly calls = new Map<string, SharedCall<T>>();

  join(
    key: string,
    start: (signal: AbortSignal) => Promise<T>,
    callerSignal?: AbortSignal,
  ): Promise<T | typeof CALLER_ABORTED> {
    if (callerSignal?.aborted === true) return Promise.resolve(CALLER_ABORTED);
    const call = this.calls.get(key) ?? this.begin(key, start);
    call.waiters++;
    if (callerSignal === undefined) return call.promise;
    return new Promise((resolve, reject) => {
      const leave = (): void => {
        call.waiters--;
        if (call.waiters === 0) this.abandon(key, call, callerSignal.reason);
        resolve(CALLER_ABORTED);
      };
      callerSignal.addEventListener("abort", leave, { once: true });
      call.promise.then(
        (value) => {
          callerSignal.removeEventListener("abort", leave);
          resolve(value);
        },
        (error: unknown) => {
          callerSignal.removeEventListener("abort", leave);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  private begin(key: string, start: (signal: AbortSignal) => Promise<T>): SharedCall<T> {
    const controller = new AbortController();
    const call: SharedCall<T> = { promise: start(controller.signal), controller, waiters: 0 };
    this.calls.set(key, call);
    const forget = (): void => {
      if (this.calls.get(key) === call) this.calls.delete(key);
    };
    call.promise.then(forget, forget);
    return call;
  }

  private abandon(key: string, call: SharedCall<T>, reason: unknown): void {
    if (this.calls.get(key) === call) this.calls.delete(key);
    call.controller.abort(reason);
  }
}
