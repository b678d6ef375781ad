// Real loopback tunnels for the native relay tests: a client connects to a front server, the
// front side dials a destination server, and the two middle sockets' fds go to the addon, as
// the engine will hand them.
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import {
  nativeRelay,
  type NativeRelayEnd,
  type NativeRelaySide,
  type NativeTunnel,
} from "@gatehouse-proxy/relay-native";

export interface TunnelPair {
  /** The SOCKS client's end. */
  client: Socket;
  /** The destination server's accepted socket. */
  dest: Socket;
  tunnel: NativeTunnel;
  /** Resolves with the addon's end report. */
  ended: Promise<NativeRelayEnd>;
  /** Each FIN the addon reported reading, in order. */
  fins: NativeRelaySide[];
}

export interface Servers {
  front: Server;
  destination: Server;
  close(): Promise<void>;
}

function fdOf(socket: Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

export function relay(): Extract<typeof nativeRelay, { available: true }> {
  if (!nativeRelay.available) throw new Error(`native relay unavailable: ${nativeRelay.reason}`);
  return nativeRelay;
}

/** Front (pauses accepted sockets) and destination servers on 127.0.0.1, random ports. */
export async function startServers(): Promise<Servers> {
  const front = createServer({ pauseOnConnect: true, allowHalfOpen: true });
  const destination = createServer({ allowHalfOpen: true });
  front.maxConnections = destination.maxConnections = 100_000;
  for (const server of [front, destination]) {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  }
  return {
    front,
    destination,
    async close() {
      await Promise.all([front, destination].map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

/** One tunnel through the addon; the middle Node sockets are destroyed once it has the fds. */
export async function openTunnel(servers: Servers): Promise<TunnelPair> {
  const accepted = once(servers.front, "connection") as Promise<[Socket]>;
  const destAccepted = once(servers.destination, "connection") as Promise<[Socket]>;
  const client = connect({
    port: (servers.front.address() as AddressInfo).port,
    host: "127.0.0.1",
    allowHalfOpen: true,
  });
  const clientConnected = once(client, "connect");
  const [clientLeg] = await accepted;
  const destLeg = connect({ port: (servers.destination.address() as AddressInfo).port, host: "127.0.0.1" });
  // Paused in the connect listener, before Node starts reading.
  destLeg.once("connect", () => destLeg.pause());
  await once(destLeg, "connect");
  const [dest] = await destAccepted;
  await clientConnected;
  let resolveEnd!: (end: NativeRelayEnd) => void;
  const ended = new Promise<NativeRelayEnd>((resolve) => (resolveEnd = resolve));
  const fins: NativeRelaySide[] = [];
  const tunnel = relay().start(fdOf(clientLeg), fdOf(destLeg), resolveEnd, (side) => fins.push(side));
  clientLeg.destroy();
  destLeg.destroy();
  return { client, dest, tunnel, ended, fins };
}

export function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Rejects with `what` unless `promise` settles within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
