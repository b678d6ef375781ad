import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { curlThrough } from "./curl.js";
import type { CurlResult } from "./curl.js";

/** An HTTP server whose answer never ends: 1 KiB every 50 ms until the client goes (a live tunnel to watch). */
export async function startStream(): Promise<{ port: number; close(): void; server: Server }> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "application/octet-stream" });
    const timer = setInterval(() => response.write(Buffer.alloc(1024, 0x61)), 50);
    timers.add(timer);
    const stop = (): void => {
      clearInterval(timer);
      timers.delete(timer);
    };
    request.socket.once("close", stop);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close() {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** A curl transfer through the proxy that runs until the tunnel ends (or curl's 15 s limit); `ended` says when. */
export interface Transfer {
  readonly result: Promise<CurlResult & { readonly endedAt: number }>;
}

export function startTransfer(proxyPort: number, streamPort: number, user: string): Transfer {
  const result = curlThrough(proxyPort, `http://localhost:${String(streamPort)}/stream`, user).then((outcome) => ({
    ...outcome,
    endedAt: Date.now(),
  }));
  return { result };
}

export interface ApiAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed JSON body. */
  readonly body: unknown;
}

/** A request to the admin listener's `path` (POST when `body` is given), with a bearer token when given. */
export async function api(
  port: number,
  path: string,
  options: { readonly body?: unknown; readonly token?: string; readonly method?: string; readonly host?: string } = {},
): Promise<ApiAnswer> {
  const response = await fetch(`http://${options.host ?? "127.0.0.1"}:${String(port)}${path}`, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers: {
      ...(options.token !== undefined && { authorization: `Bearer ${options.token}` }),
      ...(options.body !== undefined && { "content-type": "application/json" }),
    },
    ...(options.body !== undefined && {
      body: typeof options.body === "string" ? options.body : JSON.stringify(options.body),
    }),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** The parts of a `GET /api/sessions` answer the tests read. */
export interface Listing {
  readonly sessions: {
    readonly id: string;
    readonly listener: string;
    readonly peer: string;
    readonly identity: string | null;
    readonly groups: string[];
    readonly provider: string | null;
    readonly command: string | null;
    readonly destination: {
      readonly name: string | null;
      readonly address: string | null;
      readonly port: number | null;
    };
    readonly bytes: { readonly up: number; readonly down: number };
    readonly started: string;
    readonly last_activity: string;
    readonly relay: string | null;
    readonly worker: number | null;
  }[];
  readonly total: number;
  readonly next_cursor: string | null;
}

export async function listSessions(port: number, query = "", token?: string): Promise<Listing> {
  const answer = await api(
    port,
    `/api/sessions${query === "" ? "" : `?${query}`}`,
    token === undefined ? {} : { token },
  );
  if (answer.status !== 200) throw new Error(`GET /api/sessions?${query}: ${String(answer.status)} ${answer.text}`);
  return answer.body as Listing;
}
