import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AuthDecision, AuthEvent } from "@gatehouse-proxy/core/engine";
import {
  AdminRequestError,
  AuthActivity,
  RingBuffer,
  parseCloseSelector,
  parseLimit,
  parseSessionQuery,
  percentiles,
  providerRow,
  tokensEqual,
} from "@gatehouse-proxy/observability";
import type { ProviderReport } from "@gatehouse-proxy/observability";

function event(username: string, decision: AuthDecision, durationMs = 2): AuthEvent {
  return { listener: "main", peer: "127.0.0.1:5000", username, decision, durationMs };
}

const ALLOW: AuthDecision = {
  allowed: true,
  provider: "ldap",
  info: { identities: [{ identity: "alice", context: "ProxyAuthRfc1929" }], groups: [] },
};

describe("RingBuffer", () => {
  it("keeps the last `capacity` items, newest first", () => {
    const ring = new RingBuffer<number>(3);
    assert.deepEqual(ring.newest(), []);
    for (const item of [1, 2]) ring.push(item);
    assert.deepEqual(ring.newest(), [2, 1]);
    for (const item of [3, 4, 5]) ring.push(item);
    assert.equal(ring.size, 3);
    assert.deepEqual(ring.newest(), [5, 4, 3]);
    assert.deepEqual(ring.newest(2), [5, 4]);
    assert.deepEqual(ring.newest(10), [5, 4, 3]);
    assert.deepEqual(ring.newest(0), []);
    assert.throws(() => new RingBuffer(0), RangeError);
  });
});

describe("AuthActivity", () => {
  it("the recent decisions, newest first, bounded, with outcome and reason and never a password", () => {
    let now = Date.parse("2026-12-03T21:00:00.000Z");
    const activity = new AuthActivity(2, () => now);
    activity.hooks.onAuthDecision!(event("alice", ALLOW, 1.23456));
    now += 1000;
    activity.hooks.onAuthDecision!(
      event("mallory", { allowed: false, reason: "bad_credentials", provider: "ldap", detail: "no such user" }, 3),
    );
    now += 1000;
    activity.hooks.onAuthDecision!(event("eve", { allowed: false, reason: "throttled", detail: "blocked" }, 0.5));
    const rows = activity.recent(10);
    assert.deepEqual(rows, [
      {
        time: "2026-12-03T21:00:02.000Z",
        peer: "127.0.0.1:5000",
        username: "eve",
        provider: null,
        outcome: "denied",
        reason: "throttled",
        latency_ms: 0.5,
      },
      {
        time: "2026-12-03T21:00:01.000Z",
        peer: "127.0.0.1:5000",
        username: "mallory",
        provider: "ldap",
        outcome: "denied",
        reason: "bad_credentials",
        latency_ms: 3,
      },
    ]);
    assert.equal(activity.recent(1).length, 1);
  });

  it("per provider: decisions by outcome, latencies of the calls that asked it, cache hits and misses", () => {
    const activity = new AuthActivity();
    activity.record(event("alice", ALLOW, 10));
    activity.record(event("alice", { ...ALLOW, cached: true }, 0.01));
    activity.record(event("bob", { allowed: false, reason: "backend_timeout", provider: "ldap" }, 5000));
    activity.record(event("x", { allowed: false, reason: "no_provider" }));
    const ldap = activity.provider("ldap");
    assert.deepEqual(ldap.decisions, { allowed: 2, denied: 0, failed: 1 });
    assert.deepEqual(ldap.cache, { hits: 1, misses: 2 });
    assert.deepEqual(
      [...ldap.latencySamples].sort((a, b) => a - b),
      [10, 5000],
      "the cache hit is no provider call",
    );
    assert.deepEqual(activity.provider("other").decisions, { allowed: 0, denied: 0, failed: 0 });
  });
});

describe("provider rows", () => {
  it("nearest-rank percentiles", () => {
    assert.equal(percentiles([]), null);
    assert.deepEqual(percentiles([7]), { p50: 7, p90: 7, p99: 7 });
    const hundred = Array.from({ length: 100 }, (_, index) => 100 - index); // 100..1, unsorted
    assert.deepEqual(percentiles(hundred), { p50: 50, p90: 90, p99: 99 });
  });

  it("sums the workers' reports: failing when any worker's health() failed, cache null when never cached", () => {
    const report = (health: "ok" | "failing", hits: number, misses: number, samples: number[]): ProviderReport => ({
      name: "ldap",
      health,
      message: health === "ok" ? null : "worker 2: ldap down",
      cached: true,
      activity: {
        name: "ldap",
        decisions: { allowed: hits, denied: misses, failed: 0 },
        latencySamples: samples,
        cache: { hits, misses },
      },
    });
    const row = providerRow([report("ok", 3, 1, [1, 2]), report("failing", 1, 3, [3, 4])]);
    assert.equal(row.health, "failing");
    assert.equal(row.message, "worker 2: ldap down");
    assert.deepEqual(row.decisions, { allowed: 4, denied: 4, failed: 0 });
    assert.deepEqual(row.cache, { hits: 4, misses: 4, hit_ratio: 0.5 });
    assert.deepEqual(row.latency_ms, { p50: 2, p90: 4, p99: 4 });
    const uncached = providerRow([{ ...report("ok", 0, 0, []), cached: false }]);
    assert.equal(uncached.cache, null);
    assert.equal(uncached.latency_ms, null);
    assert.deepEqual(providerRow([report("ok", 0, 0, [])]).cache, { hits: 0, misses: 0, hit_ratio: null });
  });
});

describe("admin API input", () => {
  it("tokensEqual compares whole tokens of any length", () => {
    assert.ok(tokensEqual("s3cret-token-0123456789", "s3cret-token-0123456789"));
    assert.ok(!tokensEqual("s3cret-token-012345678", "s3cret-token-0123456789"));
    assert.ok(!tokensEqual("s3cret-token-01234567890", "s3cret-token-0123456789"));
    assert.ok(!tokensEqual("", "s3cret-token-0123456789"));
    assert.ok(!tokensEqual("S3cret-token-0123456789", "s3cret-token-0123456789"));
  });

  it("session queries: filters, limit 1..1000 (default 100), empty values absent, long values refused", () => {
    assert.deepEqual(parseSessionQuery(new URLSearchParams("identity=alice&group=&peer=10.0.0.1&cursor=2-5&limit=7")), {
      limit: 7,
      identity: "alice",
      peer: "10.0.0.1",
      cursor: "2-5",
    });
    assert.equal(parseLimit(new URLSearchParams("")), 100);
    for (const bad of ["limit=0", "limit=1001", "limit=1.5", "limit=-1", "limit=ten"]) {
      assert.throws(
        () => parseLimit(new URLSearchParams(bad)),
        (error: unknown) => (error as AdminRequestError).status === 400,
        bad,
      );
    }
    assert.throws(() => parseSessionQuery(new URLSearchParams(`identity=${"x".repeat(256)}`)), AdminRequestError);
  });

  it("close selectors: exactly one of id, identity, peer, as a non-empty string", () => {
    assert.deepEqual(parseCloseSelector({ identity: "bob" }), { identity: "bob" });
    assert.deepEqual(parseCloseSelector({ id: "2-17" }), { id: "2-17" });
    assert.deepEqual(parseCloseSelector({ id: 17 }), { id: "17" });
    assert.deepEqual(parseCloseSelector({ peer: "::1" }), { peer: "::1" });
    for (const bad of [
      null,
      [],
      "bob",
      {},
      { identity: "" },
      { identity: 3 },
      { user: "bob" },
      { identity: "a", peer: "b" },
    ]) {
      assert.throws(() => parseCloseSelector(bad), AdminRequestError, JSON.stringify(bad));
    }
  });
});
