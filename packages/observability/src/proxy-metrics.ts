import type {
  AuthEvent,
  PolicyDeniedEvent,
  ProxyHooks,
  ProxyStats,
  SessionRecord,
  ShedCounts,
} from "@gatehouse-proxy/core/engine";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { UDP_DROP_REASONS, classifyAuthDecision } from "@gatehouse-proxy/core/engine";
import { proxyHeaderRefusal, sessionDialedOut, sessionHadTunnel, sessionWasHealthCheck } from "./session-outcome.js";

/** Auth latency buckets in seconds: 1 ms to 10 s. */
export const AUTH_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The `listener` label of the metrics read from a ProxyStats that serves several listeners. */
export const ALL_LISTENERS = "all";

/** `provider` label value when the decision names no provider (e.g. `no_provider`, `invalid_utf8`). */
export const NO_PROVIDER_LABEL = "none";

export interface StatsSourceOptions {
  /**
   * The `listener` label of `proxy_connections_accepted_total` and `proxy_active_connections`
   * read from this ProxyStats. ProxyStats counts a whole server, so pass a listener name only
   * when that server has exactly one listener; default `all`.
   */
  readonly listener?: string;
}

export interface ProxyMetrics {
  readonly registry: Registry;
  /** Pass as `hooks` to createProxyServer (combine with other hooks via combineHooks). */
  readonly hooks: ProxyHooks;
  /**
   * Reads accepted and active connections from a server's stats at scrape time. Returns a
   * detach function (call it when that server is closed, e.g. replaced on reload); what it
   * had counted stays in the accepted total, so the counter never goes backwards.
   */
  collectFrom(stats: ProxyStats, options?: StatsSourceOptions): () => void;
}

interface StatsSource {
  readonly stats: ProxyStats;
  readonly listener: string;
}

/**
 * Prometheus metrics for the engine, KumoMTA's names. Per listener (from the hooks):
 * failed, completed, bytes each way, outbound. From ProxyStats (per server, label `all` by
 * default): accepted, active. Auth: `proxy_auth_total{provider,outcome,reason}` and
 * `proxy_auth_duration_seconds{provider,outcome}`. Policy: `proxy_policy_denied_total{listener,rule}`.
 * UDP ASSOCIATE (from ProxyStats): `proxy_udp_associations_active`, `proxy_udp_associations_total`,
 * `proxy_udp_datagrams_total{direction}`, `proxy_udp_bytes_total{direction}`,
 * `proxy_udp_dropped_total{reason}`, `proxy_udp_ports_exhausted_total`. No label ever holds a
 * username, password, peer or destination.
 */
export function createProxyMetrics(registry: Registry = new Registry()): ProxyMetrics {
  const sources = new Set<StatsSource>();
  const retiredAccepted = new Map<string, number>();
  /** Hook failures counted by servers no longer collected from, by hook. */
  const retiredHookErrors = new Map<string, number>();
  /** Admission-control counts of servers no longer collected from, keyed by shedKey. */
  const retiredShed = new Map<string, number>();
  const retiredLimitsReached = new Map<string, number>();
  /** UDP counters of servers no longer collected from, keyed by metric and label. */
  const retiredUdp = new Map<string, number>();
  /** Sums a UDP counter over the servers collected from and those retired. */
  const udpTotal = (key: string, read: (udp: ProxyStats["udp"]) => number): number =>
    [...sources].reduce((sum, { stats }) => sum + read(stats.udp), retiredUdp.get(key) ?? 0);

  new Counter({
    name: "proxy_connections_accepted_total",
    help: "Client connections accepted (read from the server's stats; see the listener label)",
    labelNames: ["listener"],
    registers: [registry],
    collect() {
      const totals = new Map(retiredAccepted);
      for (const { stats, listener } of sources) {
        totals.set(listener, (totals.get(listener) ?? 0) + stats.connectionsAccepted);
      }
      this.reset();
      for (const [listener, total] of totals) this.inc({ listener }, total);
    },
  });
  new Gauge({
    name: "proxy_active_connections",
    help: "Client connections currently open (read from the server's stats; see the listener label)",
    labelNames: ["listener"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { stats, listener } of sources) this.inc({ listener }, stats.activeConnections);
    },
  });
  new Counter({
    name: "proxy_hook_errors_total",
    help: "Calls of an observer hook (onAuthDecision, onPolicyDenied, onSessionEnd) that threw or rejected; the proxy carried on",
    labelNames: ["hook"],
    registers: [registry],
    collect() {
      const totals = new Map(retiredHookErrors);
      for (const { stats } of sources) {
        for (const [hook, count] of Object.entries(stats.hookErrors)) totals.set(hook, (totals.get(hook) ?? 0) + count);
      }
      this.reset();
      for (const [hook, total] of totals) this.inc({ hook }, total);
    },
  });
  new Counter({
    name: "proxy_connections_refused_total",
    help: "New client connections closed at accept by admission control, by listener and reason (max_connections, fd_reserve, unauthenticated_per_ip)",
    labelNames: ["listener", "reason"],
    registers: [registry],
    collect() {
      const totals = shedTotals(sources, retiredShed, "refused");
      this.reset();
      for (const [key, total] of totals) this.inc(labelsOfShedKey(key), total);
    },
  });
  new Counter({
    name: "proxy_connections_evicted_total",
    help: "Older connections still waiting on their client before authenticating, closed to make room for a new one, by listener and reason",
    labelNames: ["listener", "reason"],
    registers: [registry],
    collect() {
      const totals = shedTotals(sources, retiredShed, "evicted");
      this.reset();
      for (const [key, total] of totals) this.inc(labelsOfShedKey(key), total);
    },
  });
  new Counter({
    name: "proxy_limit_reached_total",
    help: "Episodes at a connection limit: fd_reserve (the budget derived from the fd limit) or max_connections (a listener's own)",
    labelNames: ["limit"],
    registers: [registry],
    collect() {
      const totals = new Map(retiredLimitsReached);
      for (const { stats } of sources) {
        for (const [limit, count] of Object.entries(stats.limitsReached))
          totals.set(limit, (totals.get(limit) ?? 0) + count);
      }
      this.reset();
      for (const [limit, total] of totals) this.inc({ limit }, total);
    },
  });
  new Gauge({
    name: "proxy_retired_listeners",
    help: "Listeners removed by a reload that still carry sessions (pruned when their last session ends)",
    registers: [registry],
    collect() {
      this.reset();
      for (const { stats } of sources) this.inc(stats.retiredListeners);
    },
  });
  new Gauge({
    name: "proxy_connection_budget",
    help: "Client connections the listeners without their own max_connections may hold at once, derived from the fd limit (0 = unlimited)",
    registers: [registry],
    collect() {
      this.reset();
      for (const { stats } of sources) this.inc(stats.connectionBudget);
    },
  });
  new Gauge({
    name: "proxy_udp_associations_active",
    help: "UDP associations open now",
    registers: [registry],
    collect() {
      this.reset();
      for (const { stats } of sources) this.inc(stats.udp.activeAssociations);
    },
  });
  new Counter({
    name: "proxy_udp_associations_total",
    help: "UDP associations opened (replied 00)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(udpTotal("opened", (udp) => udp.associationsOpened));
    },
  });
  new Counter({
    name: "proxy_udp_datagrams_total",
    help: "UDP datagrams relayed, by direction (client_to_dest, dest_to_client)",
    labelNames: ["direction"],
    registers: [registry],
    collect() {
      this.reset();
      this.inc(
        { direction: "client_to_dest" },
        udpTotal("datagrams_up", (udp) => udp.datagramsClientToDest),
      );
      this.inc(
        { direction: "dest_to_client" },
        udpTotal("datagrams_down", (udp) => udp.datagramsDestToClient),
      );
    },
  });
  new Counter({
    name: "proxy_udp_bytes_total",
    help: "UDP payload bytes relayed (without the SOCKS header), by direction (client_to_dest, dest_to_client)",
    labelNames: ["direction"],
    registers: [registry],
    collect() {
      this.reset();
      this.inc(
        { direction: "client_to_dest" },
        udpTotal("bytes_up", (udp) => udp.bytesClientToDest),
      );
      this.inc(
        { direction: "dest_to_client" },
        udpTotal("bytes_down", (udp) => udp.bytesDestToClient),
      );
    },
  });
  new Counter({
    name: "proxy_udp_dropped_total",
    help: "UDP datagrams dropped instead of relayed, by reason (foreign_source, fragmented, policy_denied, in_flight_limit, unknown_source, ...)",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const reason of UDP_DROP_REASONS) {
        this.inc(
          { reason },
          udpTotal(`dropped:${reason}`, (udp) => udp.dropped[reason]),
        );
      }
    },
  });
  new Counter({
    name: "proxy_udp_ports_exhausted_total",
    help: "UDP ASSOCIATE requests answered 01 because every port of the listener's udp.ports was in use",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(udpTotal("ports_exhausted", (udp) => udp.portsExhausted));
    },
  });
  const failed = new Counter({
    name: "proxy_connections_failed_total",
    help: "Sessions that ended without a tunnel (handshake, auth or dial failed)",
    labelNames: ["listener"],
    registers: [registry],
  });
  const completed = new Counter({
    name: "proxy_connections_completed_total",
    help: "Sessions that had a tunnel, counted when they end",
    labelNames: ["listener"],
    registers: [registry],
  });
  const proxyHeaderRefused = new Counter({
    name: "proxy_proxy_header_refused_total",
    help: "Connections to a proxy_protocol listener closed before SOCKS for their PROXY header, by listener and reason (untrusted_source, missing, malformed, truncated, oversized, timeout, version_not_enabled, unsupported_family, unsupported_protocol)",
    labelNames: ["listener", "reason"],
    registers: [registry],
  });
  const healthChecks = new Counter({
    name: "proxy_proxy_header_health_checks_total",
    help: "Load balancer health checks on a proxy_protocol listener: a PROXY v2 LOCAL header, then the connection closed",
    labelNames: ["listener"],
    registers: [registry],
  });
  const bytesUp = new Counter({
    name: "proxy_bytes_client_to_dest_total",
    help: "Bytes relayed from clients to destinations, counted when the session ends",
    labelNames: ["listener"],
    registers: [registry],
  });
  const bytesDown = new Counter({
    name: "proxy_bytes_dest_to_client_total",
    help: "Bytes relayed from destinations to clients, counted when the session ends",
    labelNames: ["listener"],
    registers: [registry],
  });
  const outbound = new Counter({
    name: "proxy_outbound_connections_total",
    help: "Outbound connections dialled for CONNECT requests (successful or not), counted when the session ends",
    labelNames: ["listener"],
    registers: [registry],
  });
  const authTotal = new Counter({
    name: "proxy_auth_total",
    help: "Username/password auth decisions by provider, outcome (allow, deny, error) and reason",
    labelNames: ["provider", "outcome", "reason"],
    registers: [registry],
  });
  const authDuration = new Histogram({
    name: "proxy_auth_duration_seconds",
    help: "Time to decide a username/password attempt, by provider and outcome",
    labelNames: ["provider", "outcome"],
    buckets: [...AUTH_DURATION_BUCKETS],
    registers: [registry],
  });

  const policyDenied = new Counter({
    name: "proxy_policy_denied_total",
    help: "Requests refused by the policy, by listener and deciding rule (its name or path, default, or a connection limit)",
    labelNames: ["listener", "rule"],
    registers: [registry],
  });

  const hooks: ProxyHooks = {
    onPolicyDenied(event: PolicyDeniedEvent): void {
      policyDenied.inc({ listener: event.listener, rule: event.rule });
    },
    onAuthDecision(event: AuthEvent): void {
      const { outcome, reason } = classifyAuthDecision(event.decision);
      const provider = event.decision.provider ?? NO_PROVIDER_LABEL;
      authTotal.inc({ provider, outcome, reason });
      authDuration.observe({ provider, outcome }, Math.max(0, event.durationMs) / 1000);
    },
    onSessionEnd(record: SessionRecord): void {
      const labels = { listener: record.listener };
      (sessionHadTunnel(record) ? completed : failed).inc(labels);
      if (sessionDialedOut(record)) outbound.inc(labels);
      const refusal = proxyHeaderRefusal(record);
      if (refusal !== undefined) proxyHeaderRefused.inc({ ...labels, reason: refusal });
      else if (sessionWasHealthCheck(record)) healthChecks.inc(labels);
      bytesUp.inc(labels, record.bytesClientToDest);
      bytesDown.inc(labels, record.bytesDestToClient);
    },
  };

  return {
    registry,
    hooks,
    collectFrom(stats, options = {}) {
      const source: StatsSource = { stats, listener: options.listener ?? ALL_LISTENERS };
      sources.add(source);
      return () => {
        if (!sources.delete(source)) return;
        const { listener } = source;
        retiredAccepted.set(listener, (retiredAccepted.get(listener) ?? 0) + stats.connectionsAccepted);
        for (const [hook, count] of Object.entries(stats.hookErrors)) {
          retiredHookErrors.set(hook, (retiredHookErrors.get(hook) ?? 0) + count);
        }
        for (const [key, count] of shedEntries(stats)) retiredShed.set(key, (retiredShed.get(key) ?? 0) + count);
        for (const [limit, count] of Object.entries(stats.limitsReached)) {
          retiredLimitsReached.set(limit, (retiredLimitsReached.get(limit) ?? 0) + count);
        }
        for (const [key, count] of udpEntries(stats.udp)) retiredUdp.set(key, (retiredUdp.get(key) ?? 0) + count);
      };
    },
  };
}

/** The UDP counters under the keys createProxyMetrics sums them by. */
function udpEntries(udp: ProxyStats["udp"]): [string, number][] {
  return [
    ["opened", udp.associationsOpened],
    ["datagrams_up", udp.datagramsClientToDest],
    ["datagrams_down", udp.datagramsDestToClient],
    ["bytes_up", udp.bytesClientToDest],
    ["bytes_down", udp.bytesDestToClient],
    ["ports_exhausted", udp.portsExhausted],
    ...UDP_DROP_REASONS.map((reason): [string, number] => [`dropped:${reason}`, udp.dropped[reason]]),
  ];
}

/** `kind \0 listener \0 reason` (listener names may hold any other character). */
function shedKey(kind: keyof ShedCounts, listener: string, reason: string): string {
  return `${kind}\0${listener}\0${reason}`;
}

function labelsOfShedKey(key: string): { listener: string; reason: string } {
  const [, listener = "", reason = ""] = key.split("\0");
  return { listener, reason };
}

function* shedEntries(stats: ProxyStats): Generator<[string, number]> {
  for (const [listener, counts] of stats.shed) {
    for (const kind of ["refused", "evicted"] as const) {
      for (const [reason, count] of Object.entries(counts[kind])) yield [shedKey(kind, listener, reason), count];
    }
  }
}

function shedTotals(
  sources: ReadonlySet<StatsSource>,
  retired: ReadonlyMap<string, number>,
  kind: keyof ShedCounts,
): Map<string, number> {
  const totals = new Map<string, number>();
  const add = (key: string, count: number): void => {
    if (key.startsWith(`${kind}\0`) && count > 0) totals.set(key, (totals.get(key) ?? 0) + count);
  };
  for (const [key, count] of retired) add(key, count);
  for (const { stats } of sources) for (const [key, count] of shedEntries(stats)) add(key, count);
  return totals;
}
