import { connect, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";

export interface FaultRelay {
  readonly port: number;
  /** Connections on which a request matching `stallOn` was swallowed. */
  readonly stalled: number;
  /** Whether the relay has gone away after a reply matching `crashAfterReply`. */
  readonly crashed: boolean;
  stop(): Promise<void>;
}

export interface FaultRelayOptions {
  /**
   * Once the client sends a chunk matching this, that connection's requests are swallowed: the
   * connection stays open, the server never sees them, no answer ever comes.
   */
  readonly stallOn?: RegExp;
  /**
   * Once the server sends a chunk matching this, the relay passes it on and then goes away:
   * every connection closed, nothing listening any more (a backend that crashed).
   */
  readonly crashAfterReply?: RegExp;
}

/**
 * A TCP relay on 127.0.0.1 in front of a real server that passes bytes both ways, then fails the
 * way `options` says. In front of Redis, `/hgetall/i` as `stallOn` lets the handshake and PING
 * through and hangs every user lookup; `/\+PONG/` as `crashAfterReply` lets a provider start
 * (its init ends with a PING) and then takes the backend away for good.
 */
export async function startFaultRelay(targetPort: number, options: FaultRelayOptions): Promise<FaultRelay> {
  const sockets = new Set<Socket>();
  let stalled = 0;
  let crashed = false;
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  };
  const crash = (): void => {
    crashed = true;
    server.close();
    for (const socket of sockets) socket.destroy();
  };
  const server: Server = createServer((client) => {
    track(client);
    const upstream = connect(targetPort, "127.0.0.1");
    track(upstream);
    let swallowing = false;
    client.on("data", (chunk: Buffer) => {
      if (!swallowing && options.stallOn?.test(chunk.toString("latin1")) === true) {
        swallowing = true;
        stalled++;
      }
      if (!swallowing) upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (options.crashAfterReply?.test(chunk.toString("latin1")) === true) {
        client.end(chunk, crash);
        return;
      }
      client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get stalled() {
      return stalled;
    },
    get crashed() {
      return crashed;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}
