import { once } from "node:events";
import { createServer } from "node:net";
import type { AddressInfo, Socket } from "node:net";

/** One accepted connection as the destination saw it. */
export interface SeenPeer {
  readonly address: string;
  readonly port: number;
}

export interface RecordingServer {
  readonly host: string;
  readonly port: number;
  readonly seen: SeenPeer[];
  readonly sockets: Set<Socket>;
  /** Resolves with the next accepted socket (or one already accepted and not yet taken). */
  nextConnection(timeoutMs?: number): Promise<Socket>;
  close(): Promise<void>;
}

/**
 * A destination that records each peer's address and port and hands the sockets to the
 * test (`onConnection`, default: echo). allowHalfOpen, so half-close is the test's choice.
 */
export async function startRecordingServer(
  host = "127.0.0.1",
  onConnection: (socket: Socket) => void = (socket) => socket.pipe(socket),
): Promise<RecordingServer> {
  const seen: SeenPeer[] = [];
  const sockets = new Set<Socket>();
  const queue: Socket[] = [];
  const waiters: ((socket: Socket) => void)[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    seen.push({ address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 });
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    onConnection(socket);
    const waiter = waiters.shift();
    if (waiter) waiter(socket);
    else queue.push(socket);
  });
  server.listen(0, host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    host,
    port,
    seen,
    sockets,
    nextConnection(timeoutMs = 5000) {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const index = waiters.indexOf(wake);
          if (index >= 0) waiters.splice(index, 1);
          reject(new Error(`no connection within ${timeoutMs} ms`));
        }, timeoutMs);
        const wake = (socket: Socket): void => {
          clearTimeout(timer);
          resolve(socket);
        };
        waiters.push(wake);
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** True when this host can bind an address (e.g. ::1, 127.0.0.2). */
export async function canBind(host: string): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(0, host);
    await once(server, "listening");
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
