import { connect, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";

export interface StallRelay {
  readonly port: number;
  /** Connections on which a command matching the stall pattern was swallowed. */
  readonly stalled: number;
  stop(): Promise<void>;
}

/**
 * A TCP relay to a real server that passes bytes both ways until the client sends a chunk
 * matching `stallOn`; from then on that connection's requests are swallowed (the connection stays
 * open, the server never sees them, so no answer ever comes). With `/hgetall/i` in front of Redis,
 * the handshake and PING go through and every user lookup hangs.
 */
export async function startStallRelay(targetPort: number, stallOn: RegExp): Promise<StallRelay> {
  const sockets = new Set<Socket>();
  let stalled = 0;
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    track(client);
    const upstream = connect(targetPort, "127.0.0.1");
    track(upstream);
    let swallowing = false;
    client.on("data", (chunk: Buffer) => {
      if (!swallowing && stallOn.test(chunk.toString("latin1"))) {
        swallowing = true;
        stalled++;
      }
      if (!swallowing) upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get stalled() {
      return stalled;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
