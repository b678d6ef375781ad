import { systemClock } from "./clock.js";
import type { EngineClock } from "./clock.js";

/**
 * One shared, coarse timer for every connection's deadlines: sessions hold a single entry
 * each instead of a Node timer (and a closure) per step. Deadlines fire up to one
 * resolution late, which is fine for timeouts measured in seconds.
 */
export interface WheelEntry {
  /** Absolute time (the wheel's clock) when the entry is due; written by the wheel. */
  wheelDueAt: number;
  /** Slot index while scheduled, -1 otherwise; written by the wheel. */
  wheelSlot: number;
  onWheelExpire(now: number): void;
}

/** A coarse timer wheel (default 100 ms resolution) that fires WheelEntry deadlines; one Node timer runs only while entries are scheduled. */
export class TimerWheel {
  private readonly slots: Set<WheelEntry>[];
  private lastTick: number;
  private scheduled = 0;
  private stopInterval: (() => void) | undefined;

  constructor(
    private readonly resolutionMs = 100,
    slotCount = 512,
    private readonly clock: EngineClock = systemClock,
  ) {
    this.slots = Array.from({ length: slotCount }, () => new Set<WheelEntry>());
    this.lastTick = Math.floor(clock.now() / resolutionMs);
  }

  /** The current time on the wheel's clock: deadlines are this plus a period. */
  now(): number {
    return this.clock.now();
  }

  get size(): number {
    return this.scheduled;
  }

  schedule(entry: WheelEntry, dueAt: number): void {
    if (entry.wheelSlot >= 0) this.slots[entry.wheelSlot]!.delete(entry);
    else this.scheduled++;
    entry.wheelDueAt = dueAt;
    // Never into a slot the sweep has already passed for this tick.
    const tick = Math.max(Math.ceil(dueAt / this.resolutionMs), this.lastTick + 1);
    entry.wheelSlot = tick % this.slots.length;
    this.slots[entry.wheelSlot]!.add(entry);
    if (this.stopInterval === undefined) {
      this.lastTick = Math.floor(this.clock.now() / this.resolutionMs);
      this.stopInterval = this.clock.every(() => this.sweep(), this.resolutionMs);
    }
  }

  cancel(entry: WheelEntry): void {
    if (entry.wheelSlot < 0) return;
    this.slots[entry.wheelSlot]!.delete(entry);
    entry.wheelSlot = -1;
    this.scheduled--;
    if (this.scheduled === 0) this.stop();
  }

  stop(): void {
    this.stopInterval?.();
    this.stopInterval = undefined;
  }

  private sweep(): void {
    const now = this.clock.now();
    const currentTick = Math.floor(now / this.resolutionMs);
    const steps = Math.min(currentTick - this.lastTick, this.slots.length);
    for (let step = 1; step <= steps; step++) {
      const slot = this.slots[(this.lastTick + step) % this.slots.length]!;
      for (const entry of slot) {
        if (entry.wheelDueAt > now) continue; // due on a later turn of the wheel
        slot.delete(entry);
        entry.wheelSlot = -1;
        this.scheduled--;
        entry.onWheelExpire(now);
      }
    }
    this.lastTick = currentTick;
    if (this.scheduled === 0) this.stop();
  }
}
