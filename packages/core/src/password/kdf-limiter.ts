import { availableParallelism } from "node:os";

/**
 * A FIFO semaphore for KDF work. scrypt runs on the libuv thread pool, which DNS lookups and
 * file reads share; bcryptjs runs on the main thread. Capping concurrent KDF computations keeps
 * a login flood from pinning every pool thread (and from allocating scrypt's memory for every
 * queued attempt at once); callers beyond the cap wait in arrival order.
 */
export class KdfLimiter {
  private active = 0;
  private peak = 0;
  /** Set iteration order is insertion order: the first waiter is the oldest. */
  private readonly waiting = new Set<() => void>();

  constructor(readonly maxConcurrent: number) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError("maxConcurrent must be a positive integer");
    }
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** The most computations that ever ran at once (for tests and diagnostics). */
  get peakRunning(): number {
    return this.peak;
  }

  /** Runs `work` once a slot is free. A `signal` that aborts while waiting rejects with its reason. */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  private acquire(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.maxConcurrent) {
      this.take();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting.delete(grant);
        reject(signal?.reason as Error);
      };
      const grant = (): void => {
        signal?.removeEventListener("abort", onAbort);
        this.take();
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.add(grant);
    });
  }

  private take(): void {
    this.active++;
    this.peak = Math.max(this.peak, this.active);
  }

  private release(): void {
    this.active--;
    const next = this.waiting.values().next();
    if (next.done === true) return;
    this.waiting.delete(next.value);
    next.value();
  }
}

/**
 * Half the libuv thread pool (UV_THREADPOOL_SIZE, default 4), at least 1 and at most 4, so KDF
 * work never takes the threads that DNS lookups for CONNECT requests need; never more than the
 * CPUs we have, since more concurrent KDF work than cores only makes every login slower.
 */
export function defaultKdfConcurrency(): number {
  const poolSize = Number.parseInt(process.env["UV_THREADPOOL_SIZE"] ?? "", 10);
  const pool = Number.isInteger(poolSize) && poolSize > 0 ? poolSize : 4;
  return Math.max(1, Math.min(4, Math.floor(pool / 2), availableParallelism()));
}

/** The process-wide limiter every hash and verification goes through. */
export const kdfLimiter = new KdfLimiter(defaultKdfConcurrency());
