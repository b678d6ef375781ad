import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProxyStats } from "@gatehouse-proxy/core/engine";
import type { AuthDecision, AuthDenyReason, AuthEvent, SessionRecord } from "@gatehouse-proxy/core/engine";
import {
  Registry,
  classifyAuthDecision,
  classifyDenyReason,
  combineHooks,
  createProxyMetrics,
  sessionDialedOut,
  sessionHadTunnel,
} from "@gatehouse-proxy/observability";
import { parseMetrics, valueOf } from "../helpers.js";

function record(overrides: Partial<SessionRecord>): SessionRecord {
  return {
    listener: "main",
    peer: "127.0.0.1:50000",
    identity: undefined,
    groups: [],
    command: undefined,
    destination: undefined,
    destinationAddress: undefined,
    sourceAddress: undefined,
    bytesClientToDest: 0,
    bytesDestToClient: 0,
    durationMs: 5,
    reason: "closed",
    tunnel: false,
    ...overrides,
  };
}

const dialled = { command: "connect", destination: "example.com:80", destinationAddress: "192.0.2.1:80" } as const;

function authEvent(decision: AuthDecision, durationMs = 3): AuthEvent {
  return { listener: "main", peer: "127.0.0.1:50000", username: "alice", decision, durationMs };
}

describe("auth outcome classification", () => {
  it("deny reasons and error reasons", () => {
    const deny: AuthDenyReason[] = ["bad_credentials", "throttled", "invalid_utf8", "no_provider", "aborted"];
    const error: AuthDenyReason[] = [
      "backend_error",
      "backend_timeout",
      "backend_unavailable",
      "invalid_response",
      "overloaded",
    ];
    for (const reason of deny) assert.equal(classifyDenyReason(reason), "deny", reason);
    for (const reason of error) assert.equal(classifyDenyReason(reason), "error", reason);
  });

  it("decisions map to outcome and reason labels; unknown reasons from plain JavaScript are errors", () => {
    const info = { identities: [], groups: [] };
    assert.deepEqual(classifyAuthDecision({ allowed: true, info, provider: "p" }), { outcome: "allow", reason: "ok" });
    assert.deepEqual(classifyAuthDecision({ allowed: false, reason: "throttled" }), {
      outcome: "deny",
      reason: "throttled",
    });
    assert.deepEqual(classifyAuthDecision({ allowed: false, reason: "backend_timeout", provider: "p" }), {
      outcome: "error",
      reason: "backend_timeout",
    });
    const odd = { allowed: false, reason: "user alice typed hunter2" } as unknown as AuthDecision;
    assert.deepEqual(classifyAuthDecision(odd), { outcome: "error", reason: "unknown" });
  });
});

describe("session outcome classification", () => {
  it("completed means the engine ran a relay; a dial counts as outbound either way", () => {
    assert.equal(sessionHadTunnel(record({ ...dialled, reason: "client_error:ECONNRESET", tunnel: true })), true);
    assert.equal(sessionHadTunnel(record({ ...dialled, reason: "connect_failed:ECONNREFUSED" })), false);
    assert.equal(sessionDialedOut(record({ ...dialled, reason: "connect_failed:ECONNREFUSED" })), true);
    assert.equal(sessionDialedOut(record({ reason: "auth_failed:bad_credentials" })), false);
  });
});

describe("createProxyMetrics", () => {
  it("hooks count sessions, bytes and outbound dials per listener", async () => {
    const metrics = createProxyMetrics();
    const onSessionEnd = (ended: SessionRecord): void => metrics.hooks.onSessionEnd?.(ended);
    onSessionEnd(
      record({ ...dialled, reason: "completed", tunnel: true, bytesClientToDest: 10, bytesDestToClient: 200 }),
    );
    onSessionEnd(
      record({
        ...dialled,
        listener: "tls",
        reason: "completed",
        tunnel: true,
        bytesClientToDest: 1,
        bytesDestToClient: 2,
      }),
    );
    onSessionEnd(record({ ...dialled, reason: "connect_failed:ECONNREFUSED" }));
    onSessionEnd(record({ reason: "auth_failed:bad_credentials" }));
    const samples = parseMetrics(await metrics.registry.metrics());
    const main = { listener: "main" };
    assert.equal(valueOf(samples, "proxy_connections_completed_total", main), 1);
    assert.equal(valueOf(samples, "proxy_connections_failed_total", main), 2);
    assert.equal(valueOf(samples, "proxy_outbound_connections_total", main), 2);
    assert.equal(valueOf(samples, "proxy_bytes_client_to_dest_total", main), 10);
    assert.equal(valueOf(samples, "proxy_bytes_dest_to_client_total", main), 200);
    assert.equal(valueOf(samples, "proxy_connections_completed_total", { listener: "tls" }), 1);
    assert.equal(valueOf(samples, "proxy_bytes_dest_to_client_total", { listener: "tls" }), 2);
  });

  it("PROXY header refusals by reason and balancer health checks, per listener", async () => {
    const metrics = createProxyMetrics();
    const onSessionEnd = (ended: SessionRecord): void => metrics.hooks.onSessionEnd?.(ended);
    onSessionEnd(record({ reason: "proxy_header:untrusted_source" }));
    onSessionEnd(record({ reason: "proxy_header:untrusted_source" }));
    onSessionEnd(record({ reason: "proxy_header:timeout" }));
    onSessionEnd(record({ reason: "health_check" }));
    onSessionEnd(record({ reason: "client_closed_during_handshake" }));
    const samples = parseMetrics(await metrics.registry.metrics());
    const refused = (reason: string): number | undefined =>
      valueOf(samples, "proxy_proxy_header_refused_total", { listener: "main", reason });
    assert.equal(refused("untrusted_source"), 2);
    assert.equal(refused("timeout"), 1);
    assert.equal(valueOf(samples, "proxy_proxy_header_health_checks_total", { listener: "main" }), 1);
    assert.equal(valueOf(samples, "proxy_connections_failed_total", { listener: "main" }), 5);
  });

  it("auth decisions are counted by provider, outcome and reason, with durations in seconds", async () => {
    const metrics = createProxyMetrics();
    const onAuthDecision = (event: AuthEvent): void => metrics.hooks.onAuthDecision?.(event);
    const info = { identities: [{ identity: "alice", context: "ProxyAuthRfc1929" as const }], groups: [] };
    onAuthDecision(authEvent({ allowed: true, info, provider: "corp" }, 4));
    onAuthDecision(authEvent({ allowed: false, reason: "bad_credentials", provider: "corp" }, 30));
    onAuthDecision(
      authEvent({ allowed: false, reason: "backend_timeout", provider: "corp", detail: "pw hunter2" }, 5000),
    );
    onAuthDecision(authEvent({ allowed: false, reason: "no_provider" }, 0));
    const text = await metrics.registry.metrics();
    const samples = parseMetrics(text);
    const count = (provider: string, outcome: string, reason: string): number | undefined =>
      valueOf(samples, "proxy_auth_total", { provider, outcome, reason });
    assert.equal(count("corp", "allow", "ok"), 1);
    assert.equal(count("corp", "deny", "bad_credentials"), 1);
    assert.equal(count("corp", "error", "backend_timeout"), 1);
    assert.equal(count("none", "deny", "no_provider"), 1);
    const bucket = (le: string): number | undefined =>
      valueOf(samples, "proxy_auth_duration_seconds_bucket", { provider: "corp", outcome: "error", le });
    assert.equal(bucket("2.5"), 0);
    assert.equal(bucket("5"), 1);
    assert.equal(valueOf(samples, "proxy_auth_duration_seconds_sum", { provider: "corp", outcome: "allow" }), 0.004);
    assert.equal(
      valueOf(samples, "proxy_auth_duration_seconds_bucket", { provider: "corp", outcome: "allow", le: "0.001" }),
      0,
    );
    assert.equal(
      valueOf(samples, "proxy_auth_duration_seconds_bucket", { provider: "corp", outcome: "allow", le: "0.005" }),
      1,
    );
    assert.doesNotMatch(text, /alice|hunter2|50000/);
  });

  it("accepted and active are read from stats at scrape time; detaching keeps the counter monotonic", async () => {
    const metrics = createProxyMetrics(new Registry());
    const first = new ProxyStats();
    const detach = metrics.collectFrom(first);
    first.connectionsAccepted = 5;
    first.activeConnections = 2;
    let samples = parseMetrics(await metrics.registry.metrics());
    assert.equal(valueOf(samples, "proxy_connections_accepted_total", { listener: "all" }), 5);
    assert.equal(valueOf(samples, "proxy_active_connections", { listener: "all" }), 2);

    const second = new ProxyStats(); // e.g. the server re-created on reload
    metrics.collectFrom(second);
    second.connectionsAccepted = 1;
    second.activeConnections = 1;
    detach();
    detach(); // idempotent
    first.connectionsAccepted = 99; // no longer read
    samples = parseMetrics(await metrics.registry.metrics());
    assert.equal(valueOf(samples, "proxy_connections_accepted_total", { listener: "all" }), 6);
    assert.equal(valueOf(samples, "proxy_active_connections", { listener: "all" }), 1);

    const named = new ProxyStats();
    named.connectionsAccepted = 3;
    metrics.collectFrom(named, { listener: "socks-main" });
    samples = parseMetrics(await metrics.registry.metrics());
    assert.equal(valueOf(samples, "proxy_connections_accepted_total", { listener: "socks-main" }), 3);
    assert.equal(valueOf(samples, "proxy_connections_accepted_total", { listener: "all" }), 6);
  });

  it("registers into a given registry, and a second set of metrics in it is refused", () => {
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    assert.equal(metrics.registry, registry);
    assert.ok(registry.getSingleMetric("proxy_auth_duration_seconds"));
    assert.throws(() => createProxyMetrics(registry), /already been registered/);
  });

  it("combineHooks calls every hooks object in order", () => {
    const calls: string[] = [];
    const hooks = combineHooks(
      { onSessionEnd: () => calls.push("a:end") },
      { onAuthDecision: () => calls.push("b:auth"), onSessionEnd: () => calls.push("b:end") },
    );
    hooks.onAuthDecision?.(authEvent({ allowed: false, reason: "throttled" }));
    hooks.onSessionEnd?.(record({}));
    assert.deepEqual(calls, ["b:auth", "a:end", "b:end"]);
  });
});
