import type { Socket } from "node:net";
import type { TimerWheel } from "../util/timer-wheel.js";
import { BoundedTunnel } from "./bounds.js";
import type { RelayBounds, RelayOwner } from "./bounds.js";

export type { RelayBounds, RelayOwner } from "./bounds.js";

/** Why a tunnel ended: both sides finished and closed, a bound passed, or a leg closed without its FIN. */
export type RelayEnd = "completed" | "idle_timeout" | "fin_wait_timeout" | "client_closed" | "dest_closed";

const kRelay = Symbol("gatehouse.relay");
type RelaySocket = Socket & { [kRelay]?: Relay };

/**
 * An established tunnel relayed in JavaScript: the pump between its two legs and how it ends —
 * each FIN passed on to the other side (half-close), the idle and FIN-wait bounds
 * (BoundedTunnel), and whether a leg's close ended it cleanly. Handlers are shared module-level functions (no closures per tunnel); each
 * socket points back at its relay. Backpressure: a leg whose peer's write buffer is full is
 * paused until the peer drains.
 */
export class Relay extends BoundedTunnel {
  readonly kind = "js";
  bytesClientToDest = 0;
  bytesDestToClient = 0;

  private clientClosed = false;
  private destClosed = false;

  constructor(
    readonly client: Socket,
    readonly dest: Socket,
    wheel: TimerWheel,
    bounds: RelayBounds,
    owner: RelayOwner,
  ) {
    super(wheel, bounds, owner);
  }

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
    this.cancelBounds();
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
