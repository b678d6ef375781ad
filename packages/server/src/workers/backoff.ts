/** Delays before a worker is started again: at once, then doubling up to half a minute. */
const DELAYS_MS = [0, 250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000] as const;
/** A worker that served this long was not crash-looping: its next exit starts the series again. */
const STABLE_AFTER_MS = 10_000;

/** The back-off of one worker number: a worker that keeps dying is restarted less and less often. */
export class RespawnBackoff {
  private streak = 0;

  /** The delay before the next start, given how long the worker that exited had run. */
  next(ranForMs: number): number {
    if (ranForMs >= STABLE_AFTER_MS) this.streak = 0;
    const delay = DELAYS_MS[Math.min(this.streak, DELAYS_MS.length - 1)]!;
    this.streak++;
    return delay;
  }
}
