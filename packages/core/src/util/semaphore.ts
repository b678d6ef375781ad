import { abortReason } from "./abort.js";

/** Gives a permit back; calling it again does nothing. */
export type Release = () => void;

/** Options of a Semaphore. */
export interface SemaphoreOptions {
  /** How many callers may wait; one more is refused at once with SemaphoreQueueFullError. Default: no bound. */
  readonly maxQueue?: number;
}

/** An acquire refused because `maxQueue` callers already wait. */
export class SemaphoreQueueFullError extends Error {
  override readonly name = "SemaphoreQueueFullError";
}

interface Waiter {
  grant(): void;
  fail(error: Error): void;
}

/**
 * At most `permits` holders at once; later callers wait in arrival order until a permit is
 * given back, or leave the queue when their signal aborts (rejecting with `abortReason`).
 * A permit given back passes straight to the oldest waiter.
 */
export class Semaphore {
  readonly maxQueue: number;
  private held = 0;
  private highWater = 0;
  /** Set iteration order is insertion order: the first waiter is the oldest. */
  private readonly waiting = new Set<Waiter>();
  private closedWith: Error | undefined;

  constructor(
    readonly permits: number,
    options: SemaphoreOptions = {},
  ) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError("permits must be a positive integer");
    this.maxQueue = options.maxQueue ?? Infinity;
    if (!(Number.isInteger(this.maxQueue) || this.maxQueue === Infinity) || this.maxQueue < 0) {
      throw new RangeError("maxQueue must be a non-negative integer");
    }
  }

  /** Permits held now. */
  get active(): number {
    return this.held;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** The most permits ever held at once (for tests and diagnostics). */
  get peakActive(): number {
    return this.highWater;
  }

  /**
   * A permit, at once when one is free, else once the callers before this one had theirs.
   * Rejects with the signal's abort reason when `signal` aborts before the permit is granted
   * (after that, an abort does nothing: the caller must release), with SemaphoreQueueFullError
   * when the queue is full, and with the error given to `close` after it.
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (this.held < this.permits) {
      this.take();
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.size >= this.maxQueue) {
      return Promise.reject(new SemaphoreQueueFullError(`${String(this.waiting.size)} callers already wait`));
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting.delete(waiter);
        reject(abortReason(signal!));
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.releaser());
        },
        fail: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.add(waiter);
    });
  }

  /** Runs `work` holding a permit, and gives it back however `work` ends. */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Rejects every waiter, and every later acquire, with `error`; permits already held stay valid. */
  close(error: Error): void {
    this.closedWith = error;
    const waiters = [...this.waiting];
    this.waiting.clear();
    for (const waiter of waiters) waiter.fail(error);
  }

  private take(): void {
    this.held++;
    this.highWater = Math.max(this.highWater, this.held);
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.values().next();
      if (next.done === true) {
        this.held--;
        return;
      }
      // The permit passes straight on: `held` stays the same.
      this.waiting.delete(next.value);
      next.value.grant();
    };
  }
}
