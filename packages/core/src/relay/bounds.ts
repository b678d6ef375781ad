import type { TimerWheel, WheelEntry } from "../util/timer-wheel.js";

/** How long a tunnel may go without a byte moving (0: no bound). */
export interface RelayBounds {
  readonly idleTimeoutMs: number;
  /** The same, while one side has sent its FIN and the other has not. */
  readonly finWaitTimeoutMs: number;
}

/** Told when a bound passes: it ends the tunnel (both legs). */
export interface RelayOwner {
  onRelayTimeout(reason: "idle_timeout" | "fin_wait_timeout"): void;
}

/**
 * A tunnel's idle and FIN-wait bounds, whichever relay moves its bytes: one entry on the shared
 * timer wheel, due when no byte moved for the shorter bound that applies, checked against the
 * byte counts at expiry (never a timer per chunk). Each FIN restarts the check, so FIN-wait is
 * measured from the FIN.
 */
export abstract class BoundedTunnel<Owner extends RelayOwner = RelayOwner> implements WheelEntry {
  wheelDueAt = 0;
  wheelSlot = -1;

  abstract readonly bytesClientToDest: number;
  abstract readonly bytesDestToClient: number;

  /** FIN received from that side (and passed on to the other). */
  protected clientEnded = false;
  protected destEnded = false;
  /** Bytes moved when the current bound was set: unchanged at expiry means quiet. */
  private activityMark = -1;
  protected stopped = false;

  constructor(
    protected readonly wheel: TimerWheel,
    protected readonly bounds: RelayBounds,
    protected readonly owner: Owner,
  ) {}

  onWheelExpire(): void {
    if (this.stopped) return;
    if (this.bytesMoved() !== this.activityMark) return this.scheduleCheck();
    this.owner.onRelayTimeout(this.clientEnded !== this.destEnded ? "fin_wait_timeout" : "idle_timeout");
  }

  /** Bytes moved both ways so far (a relay whose counts cost a call reads them once). */
  protected bytesMoved(): number {
    return this.bytesClientToDest + this.bytesDestToClient;
  }

  /** The tunnel ended: no more bounds. */
  protected cancelBounds(): void {
    this.stopped = true;
    this.wheel.cancel(this);
  }

  protected scheduleCheck(): void {
    if (this.stopped) return;
    const idle = this.bounds.idleTimeoutMs;
    const finWait = this.clientEnded !== this.destEnded ? this.bounds.finWaitTimeoutMs : 0;
    const period = idle > 0 && finWait > 0 ? Math.min(idle, finWait) : Math.max(idle, finWait);
    if (period <= 0) return this.wheel.cancel(this);
    this.activityMark = this.bytesMoved();
    this.wheel.schedule(this, this.wheel.now() + period);
  }
}
