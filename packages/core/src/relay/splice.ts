import type { Socket } from "node:net";
import type { TimerWheel } from "../util/timer-wheel.js";
import { BoundedTunnel } from "./bounds.js";
import type { RelayBounds, RelayOwner } from "./bounds.js";

/** A spliced tunnel's byte counts so far (bytes delivered, each way). */
export interface SplicedTunnelState {
  readonly clientToDest: number;
  readonly destToClient: number;
}

/** How a spliced tunnel ended on its own. */
export interface SplicedTunnelEnd {
  readonly reason: "completed" | "client_closed" | "dest_closed";
  readonly clientToDest: number;
  readonly destToClient: number;
  /** The errno name (`ECONNRESET`) of the failed leg, when known. */
  readonly code?: string;
  /** Its strerror text. */
  readonly error?: string;
}

/** Whose FIN a spliced tunnel read. */
export type SplicedSide = "client" | "dest";

/** A tunnel a splice backend relays: its live counts, and a way to stop it. */
export interface SplicedTunnel {
  /** Bytes delivered so far; cheap at any moment (the operator view reads every tunnel's every second). */
  counts(): SplicedTunnelState;
  /** Stops relaying and closes the backend's descriptors; the counts are final when it returns. */
  close(): void;
}

/**
 * A relay that moves an established tunnel's bytes kernel to kernel (splice(2)), such as
 * `nativeRelay` from @gatehouse-proxy/relay-native. It takes both sockets' descriptors
 * (duplicating them: the caller then closes its own), passes each FIN on, and calls `onFin`
 * for each FIN it reads and `onEnd` once at the end (both directions finished or a leg failed)
 * — nothing after `close()`. Both are called on the JS thread. Throws when it cannot take the
 * tunnel (`code` EMFILE/ENFILE: no descriptor to duplicate).
 */
export interface SpliceBackend {
  start(
    clientFd: number,
    destFd: number,
    onEnd: (end: SplicedTunnelEnd) => void,
    onFin: (side: SplicedSide) => void,
  ): SplicedTunnel;
}

/** Told when a spliced tunnel ends on its own, or a bound passes. */
export interface SplicedRelayOwner extends RelayOwner {
  onSplicedEnd(end: SplicedTunnelEnd): void;
}

/**
 * The descriptor under a plain TCP socket, or undefined (a TLS socket, a socket being closed,
 * a platform without descriptors): only such sockets can be handed to a splice backend.
 */
export function socketFd(socket: Socket): number | undefined {
  if ((socket as Socket & { encrypted?: boolean }).encrypted === true) return undefined;
  const fd = (socket as Socket & { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/**
 * An established tunnel handed to a splice backend: the bytes never enter JavaScript; the engine
 * keeps the bounds (BoundedTunnel: the FIN events restart the check as the JS relay's FINs do)
 * and the final byte counts.
 */
export class SplicedRelay extends BoundedTunnel<SplicedRelayOwner> {
  readonly kind = "splice";
  private tunnel: SplicedTunnel | undefined;
  private final: SplicedTunnelState | undefined;

  private constructor(
    wheel: TimerWheel,
    bounds: RelayBounds,
    owner: SplicedRelayOwner,
    /** Bytes the engine wrote itself before the hand-over (early payload read with the request). */
    private readonly earlyClientToDest: number,
  ) {
    super(wheel, bounds, owner);
  }

  /**
   * Hands both legs to the backend. The caller has written everything it holds for either side
   * (both write buffers empty, nothing buffered unread); the Node sockets are destroyed here,
   * once the backend holds its own descriptors. Throws what the backend throws (EMFILE): the
   * sockets are then untouched and the JS relay can take the tunnel.
   */
  static start(
    backend: SpliceBackend,
    legs: { client: Socket; dest: Socket; clientFd: number; destFd: number },
    context: { wheel: TimerWheel; bounds: RelayBounds; owner: SplicedRelayOwner; earlyClientToDest: number },
  ): SplicedRelay {
    const relay = new SplicedRelay(context.wheel, context.bounds, context.owner, context.earlyClientToDest);
    relay.tunnel = backend.start(
      legs.clientFd,
      legs.destFd,
      (end) => relay.onEnd(end),
      (side) => relay.onFin(side),
    );
    legs.client.destroy();
    legs.dest.destroy();
    if (relay.bounds.idleTimeoutMs > 0) relay.scheduleCheck();
    return relay;
  }

  get bytesClientToDest(): number {
    return this.earlyClientToDest + this.state().clientToDest;
  }

  get bytesDestToClient(): number {
    return this.state().destToClient;
  }

  /** The tunnel ended (by the engine): the backend closes its descriptors, the counts freeze. */
  stop(): void {
    this.cancelBounds();
    const tunnel = this.tunnel;
    if (tunnel === undefined) return;
    tunnel.close();
    this.final ??= tunnel.counts();
    this.tunnel = undefined;
  }

  private onFin(side: SplicedSide): void {
    if (this.stopped) return;
    if (side === "client") this.clientEnded = true;
    else this.destEnded = true;
    this.scheduleCheck();
  }

  private onEnd(end: SplicedTunnelEnd): void {
    if (this.stopped) return; // stopped by the engine first
    this.final = end;
    this.tunnel = undefined;
    this.cancelBounds();
    this.owner.onSplicedEnd(end);
  }

  protected override bytesMoved(): number {
    const state = this.state();
    return state.clientToDest + state.destToClient;
  }

  private state(): SplicedTunnelState {
    return this.final ?? this.tunnel!.counts();
  }
}
