export type SlotOutcome =
  | { readonly granted: true; readonly release: () => void }
  | { readonly granted: false; readonly why: "queue_full" | "wait_timeout" | "aborted" };

interface Waiter {
  grant(): void;
}

/**
 * At most `maxConcurrent` calls at once; up to `maxQueue` more wait in arrival order. A caller
 * that finds the queue full is refused at once, so an overloaded backend is not buried deeper.
 */
export class ConcurrencyLimiter {
  private active = 0;
  /** Set iteration order is insertion order: the first waiter is the oldest. */
  private readonly waiting = new Set<Waiter>();

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** Waits for a slot for at most `maxWaitMs`, or until `signal` aborts. */
  acquire(signal: AbortSignal, maxWaitMs: number): Promise<SlotOutcome> {
    if (signal.aborted) return Promise.resolve({ granted: false, why: "aborted" });
    if (this.active < this.maxConcurrent) {
      this.active++;
      return Promise.resolve({ granted: true, release: this.releaser() });
    }
    if (this.waiting.size >= this.maxQueue) return Promise.resolve({ granted: false, why: "queue_full" });
    return new Promise((resolve) => {
      const leave = (why: "wait_timeout" | "aborted"): void => {
        this.waiting.delete(waiter);
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve({ granted: false, why });
      };
      const onAbort = (): void => leave("aborted");
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          resolve({ granted: true, release: this.releaser() });
        },
      };
      const timer = setTimeout(leave, maxWaitMs, "wait_timeout");
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.add(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.values().next();
      if (next.done === true) {
        this.active--;
        return;
      }
      // The slot passes straight to the oldest waiter: `active` stays the same.
      this.waiting.delete(next.value);
      next.value.grant();
    };
  }
}
