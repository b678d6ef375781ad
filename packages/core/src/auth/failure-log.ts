/** The failure throttle's limits and windows (and its clock). */
export interface FailureLogOptions {
  /** Failures within `windowMs` that start a block. */
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
  /** Keys remembered at most; the least recently failed is forgotten first. */
  readonly maxTracked: number;
  /** How long a successful login keeps its client address familiar for that username. */
  readonly familiarMs: number;
  readonly now: () => number;
}

interface Failure {
  readonly at: number;
  /** Who failed (the client address, for a username's log); "" when it does not matter. */
  readonly source: string;
}

interface Track {
  /** The recent failures, oldest first; never more than maxFailures. */
  failures: Failure[];
  blockedUntil: number;
}

/**
 * Recent failures per key (a client address or a username), and which keys are blocked.
 * Options are read at every call: a reload changes them in place, and the new limits apply to
 * the failures already recorded.
 */
export class FailureLog {
  /** Map order is recency: a failure moves its key to the end. */
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly options: FailureLogOptions) {}

  isBlocked(key: string): boolean {
    const track = this.tracks.get(key);
    return track !== undefined && track.blockedUntil > this.options.now();
  }

  recordFailure(key: string, source = ""): void {
    const now = this.options.now();
    const track = this.tracks.get(key) ?? { failures: [], blockedUntil: 0 };
    this.tracks.delete(key);
    this.tracks.set(key, track);
    // Answers that were already in flight when the block began do not extend it.
    if (track.blockedUntil > now) return;
    const windowStart = now - this.options.windowMs;
    track.failures = track.failures.filter((failure) => failure.at > windowStart);
    track.failures.push({ at: now, source });
    if (track.failures.length >= this.options.maxFailures) {
      track.blockedUntil = now + this.options.blockMs;
      track.failures = [];
    }
    this.evictOverflow();
  }

  /**
   * A success: the failures of `source` (all of them when it is not given) no longer count.
   * A block in force still runs out (an answer in flight cannot lift it), and the failures
   * other sources made stay: a user logging in does not wipe out what guessers elsewhere built.
   */
  clearFailures(key: string, source?: string): void {
    const track = this.tracks.get(key);
    if (track === undefined) return;
    if (source !== undefined) track.failures = track.failures.filter((failure) => failure.source !== source);
    else track.failures = [];
    if (track.failures.length === 0 && track.blockedUntil <= this.options.now()) this.tracks.delete(key);
  }

  private evictOverflow(): void {
    while (this.tracks.size > this.options.maxTracked) {
      const oldest = this.tracks.keys().next();
      if (oldest.done === true) return;
      this.tracks.delete(oldest.value);
    }
  }
}
