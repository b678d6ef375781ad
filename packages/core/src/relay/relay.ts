import type { Socket } from "node:net";

/**
 * The pump between the two legs of an established tunnel. Handlers are shared module-level
 * functions (no closures per tunnel); each socket points back at its tunnel. Backpressure:
 * a leg whose peer's write buffer is full is paused until the peer drains.
 */
export interface Tunnel {
  readonly client: Socket;
  readonly dest: Socket;
  bytesClientToDest: number;
  bytesDestToClient: number;
  /** FIN received from that side. */
  clientEnded: boolean;
  destEnded: boolean;
  onHalfClose(): void;
}

const kTunnel = Symbol("gatehouse.tunnel");
type TunnelSocket = Socket & { [kTunnel]?: Tunnel };

export function startRelay(tunnel: Tunnel): void {
  const client = tunnel.client as TunnelSocket;
  const dest = tunnel.dest as TunnelSocket;
  client[kTunnel] = tunnel;
  dest[kTunnel] = tunnel;
  client.on("data", onClientData);
  client.on("end", onClientEnd);
  client.on("drain", onClientDrain);
  dest.on("data", onDestData);
  dest.on("end", onDestEnd);
  dest.on("drain", onDestDrain);
}

function onClientData(this: TunnelSocket, chunk: Buffer): void {
  const tunnel = this[kTunnel]!;
  tunnel.bytesClientToDest += chunk.length;
  if (!tunnel.dest.write(chunk)) this.pause();
}

function onDestData(this: TunnelSocket, chunk: Buffer): void {
  const tunnel = this[kTunnel]!;
  tunnel.bytesDestToClient += chunk.length;
  if (!tunnel.client.write(chunk)) this.pause();
}

function onClientDrain(this: TunnelSocket): void {
  this[kTunnel]!.dest.resume();
}

function onDestDrain(this: TunnelSocket): void {
  this[kTunnel]!.client.resume();
}

function onClientEnd(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.clientEnded = true;
  tunnel.dest.end();
  tunnel.onHalfClose();
}

function onDestEnd(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.destEnded = true;
  tunnel.client.end();
  tunnel.onHalfClose();
}
