import type { Socket } from "node:net";
import type { TimerWheel, WheelEntry } from "../util/timer-wheel.js";

/** How long a tunnel may go without a byte moving (0: no bound). */
export interface RelayBounds {
  readonly idleTimeoutMs: number;
  /** The same, while one side has sent its FIN and the other has not. */
  readonly finWaitTimeoutMs: number;
}

/** Why a tunnel ended: both sides finished and closed, a bound passed, or a leg closed without its FIN. */
export type RelayEnd = "completed" | "idle_timeout" | "fin_wait_timeout" | "client_closed" | "dest_closed";

/** Told when a bound passes: it ends the tunnel (both legs). */
export interface RelayOwner {
  onRelayTimeout(reason: "idle_timeout" | "fin_wait_timeout"): void;
}

const kRelay = Symbol("gatehouse.relay");
type RelaySocket = Socket & { [kRelay]?: Relay };

/**
 * An established tunnel: the pump between its two legs and how it ends — each FIN passed on
 * to the other side (half-close), the idle and FIN-wait bounds (one entry on the shared timer
 * wheel, checked against the byte counts, never a timer per chunk), and whether a leg's close
 * ended it cleanly. Handlers are shared module-level functions (no closures per tunnel); each
 * socket points back at its relay. Backpressure: a leg whose peer's write buffer is full is
 * paused until the peer drains.
 */
export class Relay implements WheelEntry {
  wheelDueAt = 0;
  wheelSlot = -1;

  bytesClientToDest = 0;
  bytesDestToClient = 0;

  /** FIN received from that side (and passed on to the other). */
  private clientEnded = false;
  private destEnded = false;
  private clientClosed = false;
  private destClosed = false;
  /** Bytes moved when the current bound was set: unchanged at expiry means quiet. */
  private activityMark = -1;
  private stopped = false;

  constructor(
    readonly client: Socket,
    readonly dest: Socket,
    private readonly wheel: TimerWheel,
    private readonly bounds: RelayBounds,
    private readonly owner: RelayOwner,
  ) {}

  /**
   * Starts pumping. `early`: client bytes that arrived during the handshake, sent first;
   * `clientFinished`: the client's FIN arrived then too, and is passed on after them. The
   * client leg is resumed unless the destination's buffer is already full (its drain will).
   */
  start(early: Buffer | undefined, clientFinished: boolean): void {
    const client = this.client as RelaySocket;
    const dest = this.dest as RelaySocket;
    client[kRelay] = this;
    dest[kRelay] = this;
    client.on("data", onClientData);
    client.on("end", onClientEnd);
    client.on("drain", onClientDrain);
    dest.on("data", onDestData);
    dest.on("end", onDestEnd);
    dest.on("drain", onDestDrain);
    let flowing = true;
    if (early !== undefined) {
      this.bytesClientToDest += early.length;
      flowing = dest.write(early);
    }
    if (clientFinished) this.clientFin();
    if (flowing) client.resume();
    if (this.bounds.idleTimeoutMs > 0) this.scheduleCheck();
  }

  /**
   * A leg closed: `completed` once both sides sent their FIN and both legs closed without
   * error; `client_closed`/`dest_closed` when one closed otherwise; undefined while the other
   * leg is still closing cleanly.
   */
  legClosed(socket: Socket, hadError: boolean): RelayEnd | undefined {
    const isClient = socket === this.client;
    if (isClient) this.clientClosed = true;
    else this.destClosed = true;
    const graceful = this.clientEnded && this.destEnded && !hadError;
    if (!graceful) return isClient ? "client_closed" : "dest_closed";
    return this.clientClosed && this.destClosed ? "completed" : undefined;
  }

  /** The tunnel ended: no more bounds. */
  stop(): void {
    this.stopped = true;
    this.wheel.cancel(this);
  }

  onWheelExpire(): void {
    if (this.stopped) return;
    if (this.bytesClientToDest + this.bytesDestToClient !== this.activityMark) return this.scheduleCheck();
    this.owner.onRelayTimeout(this.halfClosed ? "fin_wait_timeout" : "idle_timeout");
  }

  /** @internal the client's FIN: passed on to the destination. */
  clientFin(): void {
    this.clientEnded = true;
    this.dest.end();
    this.scheduleCheck();
  }

  /** @internal the destination's FIN: passed on to the client. */
  destFin(): void {
    this.destEnded = true;
    this.client.end();
    this.scheduleCheck();
  }

  private get halfClosed(): boolean {
    return this.clientEnded !== this.destEnded;
  }

  /** Idle and FIN-wait bounds: due when no byte moved for the shorter period that applies. */
  private scheduleCheck(): void {
    if (this.stopped) return;
    const idle = this.bounds.idleTimeoutMs;
    const finWait = this.halfClosed ? this.bounds.finWaitTimeoutMs : 0;
    const period = idle > 0 && finWait > 0 ? Math.min(idle, finWait) : Math.max(idle, finWait);
    if (period <= 0) return this.wheel.cancel(this);
    this.activityMark = this.bytesClientToDest + this.bytesDestToClient;
    this.wheel.schedule(this, this.wheel.now() + period);
  }
}

function onClientData(this: RelaySocket, chunk: Buffer): void {
  const relay = this[kRelay]!;
  relay.bytesClientToDest += chunk.length;
  if (!relay.dest.write(chunk)) this.pause();
}

function onDestData(this: RelaySocket, chunk: Buffer): void {
  const relay = this[kRelay]!;
  relay.bytesDestToClient += chunk.length;
  if (!relay.client.write(chunk)) this.pause();
}

function onClientDrain(this: RelaySocket): void {
  this[kRelay]!.dest.resume();
}

function onDestDrain(this: RelaySocket): void {
  this[kRelay]!.client.resume();
}

function onClientEnd(this: RelaySocket): void {
  this[kRelay]!.clientFin();
}

function onDestEnd(this: RelaySocket): void {
  this[kRelay]!.destFin();
}
