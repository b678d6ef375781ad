import type { Registry } from "prom-client";
import type { ApiRoute } from "./api-routes.js";
import { AuthHistory, policyDenials } from "./metrics-history.js";

/** The JSON routes the status page needs beyond the admin API: answers from the metrics. */
export interface PageDataRoutes {
  /** Path → its GET route (behind the admin API's access check). */
  readonly routes: ReadonlyMap<string, ApiRoute>;
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
    routes: new Map<string, ApiRoute>([
      [
        "/api/auth/series",
        { method: "GET", changes: false, run: async () => ({ body: history.series(now(), await registry.metrics()) }) },
      ],
      [
        "/api/policy/denials",
        { method: "GET", changes: false, run: async () => ({ body: policyDenials(await registry.metrics()) }) },
      ],
    ]),
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
