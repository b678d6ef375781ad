import type { ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { AuthHistory, policyDenials } from "./metrics-history.js";

/** The JSON routes the status page needs beyond the admin API: answers from the metrics. */
export interface PageDataRoutes {
  /** Path → the GET handler answering its JSON. */
  readonly routes: Readonly<Record<string, (response: ServerResponse) => Promise<void>>>;
  /** Starts taking a snapshot every step (an unref'd timer). */
  start(): void;
  stop(): void;
}

/**
 * GET /api/auth/series (auth decisions per provider and outcome over the last 15 minutes, in
 * 10 s steps) and GET /api/policy/denials (by rule), both read from what /metrics serves.
 */
export function createPageDataRoutes(
  registry: Pick<Registry, "metrics">,
  now: () => number = Date.now,
): PageDataRoutes {
  const history = new AuthHistory(now());
  let timer: NodeJS.Timeout | undefined;
  const snapshot = async (): Promise<void> => {
    const text = await registry.metrics();
    history.record(now(), text);
  };
  return {
    routes: {
      "/api/auth/series": async (response) => sendJson(response, history.series(now(), await registry.metrics())),
      "/api/policy/denials": async (response) => sendJson(response, policyDenials(await registry.metrics())),
    },
    start() {
      timer ??= setInterval(() => {
        snapshot().catch(() => undefined); // a failed scrape leaves a longer step, nothing worse
      }, history.stepMs).unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

function sendJson(response: ServerResponse, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(200, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  response.end(text);
}
