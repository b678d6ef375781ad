import type { Logger } from "../log.js";
import { systemClock } from "../util/clock.js";
import type { IntervalScheduler } from "../util/clock.js";

/** How often the `handshake_failures` summary is written by default. */
export const HANDSHAKE_FAILURE_SUMMARY_MS = 10_000;

/** Distinct reasons counted per interval; further ones are counted under `other`. */
const MAX_REASONS = 64;

/**
 * Handshakes that failed before anyone authenticated (garbage, a refused method, bad
 * credentials, a timeout) are logged one by one at debug only: an anonymous client could
 * otherwise fill the disk. This counts them by reason and writes one info line per interval,
 * only when there were any.
 */
export class HandshakeFailureSummary {
  private counts = new Map<string, number>();
  private total = 0;
  private cancel: (() => void) | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number = HANDSHAKE_FAILURE_SUMMARY_MS,
    private readonly schedule: IntervalScheduler = systemClock.every,
  ) {}

  record(reason: string): void {
    const key = this.counts.has(reason) || this.counts.size < MAX_REASONS ? reason : "other";
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.total++;
  }

  start(): void {
    this.cancel ??= this.schedule(() => this.flush(), this.intervalMs);
  }

  /** Writes what was counted since the last line (nothing when nothing failed). */
  flush(): void {
    if (this.total === 0) return;
    const reasons = Object.fromEntries([...this.counts].sort(([, a], [, b]) => b - a));
    this.logger.info(
      { event: "handshake_failures", total: this.total, reasons, interval_ms: this.intervalMs },
      "failed handshakes before authentication (each is logged at debug)",
    );
    this.counts = new Map();
    this.total = 0;
  }

  /** Stops the timer and writes the last counts. */
  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.flush();
  }
}
