import { createSocket } from "node:dgram";
import type { Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { ResolvedUdpOptions } from "../listener/options.js";

/** Every port of the listener's `udp.ports` is taken (by this process's associations or by others). */
export class UdpPortsExhaustedError extends Error {
  constructor(readonly range: string) {
    super(`every port of udp.ports ${range} is in use`);
    this.name = "UdpPortsExhaustedError";
  }
}

/**
 * The client-facing relay sockets of one listener: one per association, bound to `udp.address`
 * on a port of `udp.ports` (or one the system picks). Ports are tried round-robin from where
 * the last search stopped, skipping those this process holds; a port another process (another
 * `workers` worker) holds fails with EADDRINUSE and the next one is tried. Each socket is bound
 * `exclusive`, so under node:cluster it belongs to this worker alone.
 */
export class UdpRelayPorts {
  private next: number;
  private readonly held = new Set<number>();
  private readonly type: "udp4" | "udp6";

  constructor(private readonly options: ResolvedUdpOptions) {
    this.next = options.portLow;
    this.type = isIPv6(options.address) ? "udp6" : "udp4";
  }

  /** Ports of the range this process holds now. */
  get inUse(): number {
    return this.held.size;
  }

  /** A bound socket; throws UdpPortsExhaustedError, or the bind error (EADDRNOTAVAIL, ...). */
  async bind(): Promise<Socket> {
    const { portLow, portHigh, address } = this.options;
    if (portLow === 0) return bindSocket(this.type, address, 0);
    const size = portHigh - portLow + 1;
    for (let tried = 0; tried < size; tried++) {
      const port = this.next;
      this.next = port === portHigh ? portLow : port + 1;
      if (this.held.has(port)) continue;
      this.held.add(port); // before the bind completes: a concurrent search skips it
      try {
        const socket = await bindSocket(this.type, address, port);
        socket.once("close", () => this.held.delete(port));
        return socket;
      } catch (error) {
        this.held.delete(port);
        if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      }
    }
    throw new UdpPortsExhaustedError(`${String(portLow)}-${String(portHigh)}`);
  }
}

/** A UDP socket of `type` bound to `address:port` for this process alone. */
export function bindSocket(type: "udp4" | "udp6", address: string | undefined, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type });
    const onError = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once("error", onError);
    socket.bind({ port, ...(address !== undefined && { address }), exclusive: true }, () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}
