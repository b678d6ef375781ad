/** Milliseconds since the epoch: the shape plugins receive as Tokens.Clock. */
export type Clock = () => number;

/** Runs `tick` every `intervalMs` until the returned function is called; never keeps the process alive. */
export type IntervalScheduler = (tick: () => void, intervalMs: number) => () => void;

/**
 * The time every engine deadline and window is measured on (handshake, step, connect, idle,
 * FIN-wait and linger deadlines on the timer wheel; cache and throttle windows; summaries),
 * and the one repeating timer they are driven by. Tests pass a ManualClock.
 */
export interface EngineClock {
  readonly now: Clock;
  readonly every: IntervalScheduler;
}

const unrefInterval: IntervalScheduler = (tick, intervalMs) => {
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
};

export const systemClock: EngineClock = { now: Date.now, every: unrefInterval };

/**
 * Simulated time: stands still until `advance` moves it, then runs every interval that fell
 * due on the way, in time order, as a real clock would have. Sockets and promises still run on
 * the real event loop: a test advances the clock once the proxy has seen what it waits for.
 */
export class ManualClock implements EngineClock {
  private time: number;
  private readonly intervals = new Set<{ tick: () => void; intervalMs: number; dueAt: number }>();

  constructor(startAt = Date.now()) {
    this.time = startAt;
  }

  readonly now: Clock = () => this.time;

  readonly every: IntervalScheduler = (tick, intervalMs) => {
    const interval = { tick, intervalMs: Math.max(1, intervalMs), dueAt: this.time + Math.max(1, intervalMs) };
    this.intervals.add(interval);
    return () => this.intervals.delete(interval);
  };

  /** Intervals running (a timer wheel runs one only while it has deadlines). */
  get activeIntervals(): number {
    return this.intervals.size;
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: { tick: () => void; intervalMs: number; dueAt: number } | undefined;
      for (const interval of this.intervals) if (next === undefined || interval.dueAt < next.dueAt) next = interval;
      if (next === undefined || next.dueAt > target) break;
      this.time = next.dueAt;
      next.dueAt += next.intervalMs;
      next.tick();
    }
    this.time = target;
  }
}
