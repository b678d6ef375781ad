export { ALLOW_REASON, classifyAuthDecision, classifyDenyReason } from "@gatehouse-proxy/core/engine";
export type { AuthOutcome } from "@gatehouse-proxy/core/engine";
export { createAdminServer } from "./admin-server.js";
export { checkAdminAccess, isLoopback, tokensEqual } from "./admin-access.js";
export type { AccessVerdict, AdminCaller } from "./admin-access.js";
export { DEFAULT_PAGE, parseCloseSelector, parseLimit, parseSessionQuery } from "./api-routes.js";
export { AuthActivity, LATENCY_SAMPLES, RECENT_DECISIONS } from "./auth-activity.js";
export type { AuthDecisionRow, DecisionOutcome, ProviderActivity } from "./auth-activity.js";
export { AdminRequestError, percentiles, providerRow, sessionRow } from "./operator-view.js";
export type {
  CloseSelector,
  OperatorApi,
  ProviderHealth,
  ProviderHealthReport,
  ProviderReport,
  ProviderRow,
  SessionListQuery,
  SessionListing,
  SessionRow,
} from "./operator-view.js";
export { RingBuffer } from "./ring-buffer.js";
export type { AdminServer, AdminServerOptions } from "./admin-server.js";
export { ClusterMetrics } from "./cluster-metrics.js";
export type { WorkerMetrics } from "./cluster-metrics.js";
export { combineHooks } from "./combine-hooks.js";
export { DEFAULT_ADMIN_LISTEN, parseAdminListen } from "./listen-address.js";
export { ALL_LISTENERS, AUTH_DURATION_BUCKETS, NO_PROVIDER_LABEL, createProxyMetrics } from "./proxy-metrics.js";
export type { ProxyMetrics, StatsSourceOptions } from "./proxy-metrics.js";
export { DEFAULT_READY_TIMEOUT_MS, describeFailure } from "./readiness.js";
export type { ReadyResult } from "./readiness.js";
export { stateStoreErrorCounter } from "./state-store-metrics.js";
export { sessionDialedOut, sessionHadTunnel } from "./session-outcome.js";
export { Registry } from "prom-client";
