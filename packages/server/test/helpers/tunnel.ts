import { createConnection, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { SocksClient } from "socks";

/** A local TCP echo server. */
export async function startEcho(): Promise<{ server: Server; port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** A SOCKS5 tunnel (username/password when given) through the proxy to 127.0.0.1:`port`. */
export async function openTunnel(proxyPort: number, port: number, user?: string, password?: string): Promise<Socket> {
  const credentials = user === undefined ? {} : { userId: user, password: password ?? "" };
  const { socket } = await SocksClient.createConnection({
    proxy: { host: "127.0.0.1", port: proxyPort, type: 5, ...credentials },
    command: "connect",
    destination: { host: "127.0.0.1", port },
    timeout: 10000,
  });
  return socket;
}

/** Writes `text` and resolves with what came back once it is all there. */
export function echoRoundTrip(socket: Socket, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`echo timed out; got ${JSON.stringify(received)}`));
    }, timeoutMs);
    const onData = (data: Buffer): void => {
      received += data.toString("utf8");
      if (received.length >= text.length) {
        cleanup();
        resolve(received);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`tunnel closed; got ${JSON.stringify(received)}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onEnd);
      socket.off("error", onEnd);
    };
    socket.on("data", onData);
    socket.once("close", onEnd);
    socket.once("error", onEnd);
    socket.write(text);
  });
}

/** Resolves with the socket error code of a plain TCP connect (`ECONNREFUSED`) or "connected". */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** GET on the admin listener. */
export async function adminGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${String(port)}${path}`);
  return { status: response.status, body: await response.text() };
}

/** The sum of every sample of `name` whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (wanted) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

/** A port nothing listens on right now (bound on 127.0.0.1, then released). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
