import { once } from "node:events";
import { createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface TestServer {
  readonly port: number;
  readonly host: string;
  /** Remote addresses of accepted connections, in order. */
  readonly peers: string[];
  close(): Promise<void>;
}

async function listen(server: Server, host: string): Promise<number> {
  server.listen(0, host);
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** A TCP echo server; with allowHalfOpen it ends its side only after the client's FIN. */
export function startEchoServer(host = "127.0.0.1"): Promise<TestServer> {
  return startTcpServer((socket) => socket.pipe(socket), host);
}

/** A TCP server driven by the test: `onConnection` gets every accepted socket. */
export async function startTcpServer(onConnection: (socket: Socket) => void, host = "127.0.0.1"): Promise<TestServer> {
  const peers: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    peers.push(socket.remoteAddress ?? "");
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    onConnection(socket);
  });
  const port = await listen(server, host);
  return { port, host, peers, close: closer(server, sockets) };
}

/** An HTTP server answering every request with `hello <path>`; records each peer. */
export async function startHttpServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void = (request, response) => {
    response.end(`hello ${request.url ?? ""}`);
  },
  host = "127.0.0.1",
): Promise<TestServer> {
  const peers: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((request, response) => {
    peers.push(request.socket.remoteAddress ?? "");
    handler(request, response);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const port = await listen(server, host);
  return { port, host, peers, close: closer(server, sockets) };
}

/** A port on which nothing listens (bound then released). */
export async function unusedPort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  const port = await listen(server, host);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
