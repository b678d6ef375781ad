import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "@gatehouse-proxy/core";
import type { Registry } from "prom-client";
import { checkAdminAccess } from "./admin-access.js";
import type { AdminCaller } from "./admin-access.js";
import { apiRoutes } from "./api-routes.js";
import type { ApiRoute } from "./api-routes.js";
import { DEFAULT_ADMIN_LISTEN, parseAdminListen } from "./listen-address.js";
import { AdminRequestError } from "./operator-view.js";
import type { OperatorApi } from "./operator-view.js";
import { createPageDataRoutes } from "./page-data-routes.js";
import { DEFAULT_READY_TIMEOUT_MS, createReadinessCheck } from "./readiness.js";
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
   * POST /api/revoke `{"identity": "alice"}`: ends the identity's tunnels and cached logins on
   * every instance this reaches; absent, the route is 404.
   */
  readonly revoke?: (identity: string) => Promise<void>;
  /** The operator's view: /api/sessions, /api/sessions/close, /api/auth/recent, /api/providers; absent, 404. */
  readonly operator?: OperatorApi;
  /**
   * The bearer token `/api/*` requires (compared in constant time). Without one, `/api/*` answers
   * loopback clients only. /metrics, /healthz and /readyz never ask for it (scrapers and probes).
   */
  readonly token?: string;
  /** Where each admin action is logged, with who made it; refusals too (rate-limited). */
  readonly logger?: Logger;
}

export interface AdminServer {
  start(): Promise<void>;
  close(): Promise<void>;
  /** The bound address (after start). */
  address(): AddressInfo;
}

const REQUEST_TIMEOUT_MS = 5000;
const MAX_CONNECTIONS = 64;
/** Refused /api requests are logged at most once per this interval (with the count since). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * The admin HTTP listener: GET /metrics (Prometheus text), /healthz, /readyz, the status page
 * (`/`, `/assets/*`, with its /api/auth/series and /api/policy/denials); with `operator` and
 * `revoke`, the JSON routes under /api/ (token or loopback, see `token`); 404 for other paths,
 * 405 for other methods. API errors are `{"error": "..."}`.
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

  const api = new Map([...apiRoutes(options.operator, options.revoke), ...pageData.routes]);
  const logger = options.logger;
  const refusals = { count: 0, loggedAt: -Infinity };
  const logRefusal = (caller: AdminCaller, path: string, status: number, error: string): void => {
    refusals.count++;
    const now = Date.now();
    if (now - refusals.loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    logger?.warn(
      { event: "admin_refused", peer: caller.peer, path, status, error, refused: refusals.count },
      `admin request refused: ${error}`,
    );
    refusals.loggedAt = now;
    refusals.count = 0;
  };

  const handleApi = (
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    query: URLSearchParams,
    route: ApiRoute,
  ): void => {
    const access = checkAdminAccess(request, options.token);
    if (!access.allowed) {
      if (access.challenge !== undefined) response.setHeader("WWW-Authenticate", access.challenge);
      response.setHeader("Connection", "close"); // a body, if any, is not read
      logRefusal(access.caller, path, access.status, access.error);
      return sendJson(response, access.status, { error: access.error });
    }
    if (request.method !== route.method) {
      response.setHeader("Allow", route.method);
      response.setHeader("Connection", "close");
      return sendJson(response, 405, { error: `method not allowed: use ${route.method}` });
    }
    const { caller } = access;
    route.run(request, query).then(
      ({ body, logged }) => {
        if (route.changes) {
          logger?.info(
            { event: "admin_action", ...logged, peer: caller.peer, token: caller.token },
            `admin action ${logged?.action ?? path} by ${caller.peer}`,
          );
        } else {
          logger?.debug({ event: "admin_request", path: path, peer: caller.peer, token: caller.token });
        }
        sendJson(response, 200, body);
      },
      (error: unknown) => {
        const status = error instanceof AdminRequestError ? error.status : 500;
        const message = error instanceof AdminRequestError ? error.message : "internal error";
        if (status === 413) response.setHeader("Connection", "close"); // the rest of the body is not read
        if (status === 500) logger?.error({ event: "admin_error", path: path, err: error }, "admin API error");
        if (route.changes) {
          logger?.info(
            { event: "admin_action", path: path, peer: caller.peer, token: caller.token, status, error: message },
            `admin action ${path} by ${caller.peer} failed: ${message}`,
          );
        }
        sendJson(response, status, { error: message });
      },
    );
  };

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const target = request.url ?? "/";
    const queryAt = target.indexOf("?");
    const path = queryAt < 0 ? target : target.slice(0, queryAt);
    const apiRoute = api.get(path);
    if (apiRoute !== undefined) {
      const query = new URLSearchParams(queryAt < 0 ? "" : target.slice(queryAt + 1));
      return handleApi(request, response, path, query, apiRoute);
    }
    if (path.startsWith("/api/")) return sendJson(response, 404, { error: `no route ${path}` });
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

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, `${JSON.stringify(body)}\n`, "application/json");
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
