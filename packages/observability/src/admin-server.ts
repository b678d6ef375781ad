import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { DEFAULT_ADMIN_LISTEN, parseAdminListen } from "./listen-address.js";
import { DEFAULT_READY_TIMEOUT_MS, createReadinessCheck } from "./readiness.js";
import { createPageDataRoutes } from "./page-data-routes.js";
import { answerRevoke } from "./revoke-route.js";
import { statusPageRoutes } from "./status-page.js";

export interface AdminServerOptions {
  /** `host:port`; default 127.0.0.1:9090 (loopback). Port 0 picks a free port. */
  readonly listen?: string;
  /** What /metrics serves: a Registry, or the `workers` primary's aggregate (ClusterMetrics). */
  readonly registry: Pick<Registry, "metrics" | "contentType">;
  /** Resolves when the proxy can serve (e.g. every provider's health() passed); rejects otherwise. */
  readonly ready?: () => Promise<void>;
  /** How long /readyz waits for `ready()`; default 2 s. */
  readonly readyTimeoutMs?: number;
  /**
   * POST /api/revoke `{"identity": "alice"}` (loopback peers only): ends the identity's tunnels
   * and cached logins on every instance this reaches; absent, the route is 404.
   */
  readonly revoke?: (identity: string) => Promise<void>;
}

export interface AdminServer {
  start(): Promise<void>;
  close(): Promise<void>;
  /** The bound address (after start). */
  address(): AddressInfo;
}

const REQUEST_TIMEOUT_MS = 5000;
const MAX_CONNECTIONS = 64;

/**
 * The admin HTTP listener: GET /metrics (Prometheus text), /healthz, /readyz, the status page
 * (`/`, `/assets/*`, and its /api/auth/series and /api/policy/denials); 404 for other paths, 405
 * for other methods; with `revoke`, POST /api/revoke too (the only body read).
 */
export function createAdminServer(options: AdminServerOptions): AdminServer {
  const { host, port } = parseAdminListen(options.listen ?? DEFAULT_ADMIN_LISTEN);
  const { registry } = options;
  const isReady = createReadinessCheck(
    options.ready ?? (() => Promise.resolve()),
    options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
  );

  const pageData = createPageDataRoutes(registry);
  const routes: Record<string, (response: ServerResponse) => Promise<void>> = {
    ...statusPageRoutes(),
    ...pageData.routes,
    "/metrics": async (response) => {
      const body = await registry.metrics();
      send(response, 200, body, registry.contentType);
    },
    "/healthz": (response) => {
      send(response, 200, "ok\n");
      return Promise.resolve();
    },
    "/readyz": async (response) => {
      const result = await isReady();
      if (result.ready) send(response, 200, "ok\n");
      else send(response, 503, `not ready: ${result.message}\n`);
    },
  };

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? "/").split("?", 1)[0] ?? "/";
    if (path === "/api/revoke" && options.revoke !== undefined) {
      if (request.method !== "POST") {
        response.setHeader("Allow", "POST");
        response.setHeader("Connection", "close");
        return send(response, 405, "method not allowed\n");
      }
      answerRevoke(request, options.revoke).then(
        ({ status, body }) => {
          if (status === 413) response.setHeader("Connection", "close"); // the rest of the body is not read
          send(response, status, `${JSON.stringify(body)}\n`, "application/json");
        },
        () => send(response, 500, "internal error\n"),
      );
      return;
    }
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (route === undefined) return send(response, 404, "not found\n");
    if (request.method !== "GET") {
      response.setHeader("Allow", "GET");
      response.setHeader("Connection", "close"); // the body, if any, is not read
      return send(response, 405, "method not allowed\n");
    }
    route(response).catch(() => {
      send(response, 500, "internal error\n");
    });
  };

  const server: Server = createServer(
    { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: REQUEST_TIMEOUT_MS },
    handle,
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.setTimeout(REQUEST_TIMEOUT_MS, (socket) => socket.destroy());
  let started = false;

  return {
    async start() {
      if (started) throw new Error("admin server already started");
      started = true;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host, port }, () => {
          server.off("error", reject);
          pageData.start();
          resolve();
        });
      });
    },
    async close() {
      pageData.stop();
      if (!server.listening) return;
      const closed = new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      });
      server.closeAllConnections();
      await closed;
    },
    address() {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("admin server is not listening");
      return address;
    },
  };
}

function send(response: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  if (response.headersSent) return void response.end();
  response.writeHead(status, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  response.end(body);
}
