export interface FailureLogOptions {
  /** Failures within `windowMs` that start a block. */
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
  /** Keys remembered at most; the least recently failed is forgotten first. */
  readonly maxTracked: number;
  readonly now: () => number;
}

interface Track {
  /** Times of the recent failures, oldest first; never more than maxFailures. */
  failures: number[];
  blockedUntil: number;
}

/** Recent failures per key (a client address or a username), and which keys are blocked. */
export class FailureLog {
  /** Map order is recency: a failure moves its key to the end. */
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly options: FailureLogOptions) {}

  isBlocked(key: string): boolean {
    const track = this.tracks.get(key);
    return track !== undefined && track.blockedUntil > this.options.now();
  }

  recordFailure(key: string): void {
    const now = this.options.now();
    const track = this.tracks.get(key) ?? { failures: [], blockedUntil: 0 };
    this.tracks.delete(key);
    this.tracks.set(key, track);
    // Answers that were already in flight when the block began do not extend it.
    if (track.blockedUntil > now) return;
    const windowStart = now - this.options.windowMs;
    track.failures = track.failures.filter((at) => at > windowStart);
    track.failures.push(now);
    if (track.failures.length >= this.options.maxFailures) {
      track.blockedUntil = now + this.options.blockMs;
      track.failures = [];
    }
    this.evictOverflow();
  }

  /** A success: the count starts again. A block in force still runs out (an answer in flight cannot lift it). */
  clearFailures(key: string): void {
    const track = this.tracks.get(key);
    if (track !== undefined && track.blockedUntil <= this.options.now()) this.tracks.delete(key);
  }

  private evictOverflow(): void {
    while (this.tracks.size > this.options.maxTracked) {
      const oldest = this.tracks.keys().next();
      if (oldest.done === true) return;
      this.tracks.delete(oldest.value);
    }
  }
}
