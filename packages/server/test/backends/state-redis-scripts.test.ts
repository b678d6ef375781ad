// The Redis state store's Lua scripts against a real redis-server: leases are exact under
// concurrency from two instances, expire when not refreshed, come back after Redis lost them,
// and cost nothing when no limit applies; the throttle's counters, blocks, smart lockout
// (suspect, familiar, one probe at a time) hold across two instances.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { closeRedis, connectRedis, createRedisClient } from "@gatehouse-proxy/auth-redis/connection";
import type { RedisClient } from "@gatehouse-proxy/auth-redis/connection";
import type { LimitSlot } from "@gatehouse-proxy/core/engine";
import { pino } from "pino";
import { startRedis } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import type { RedisServer } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import { RedisLimits } from "../../dist/state/redis-limits.js";
import { RedisThrottle } from "../../dist/state/redis-throttle.js";
import { StateKeys } from "../../dist/state/state-keys.js";
import { StoreHealth } from "../../dist/state/store-health.js";

const silent = pino({ enabled: false });
const keys = new StateKeys("t:");
const THROTTLE = { maxFailures: 3, windowMs: 60_000, blockMs: 60_000, maxTracked: 100, familiarMs: 86_400_000 };

async function client(redis: RedisServer): Promise<RedisClient> {
  const made = await createRedisClient(
    { url: redis.url, connect_timeout: 2000, command_timeout: 1000 },
    process.cwd(),
    silent,
  );
  await connectRedis(made, 3000);
  return made;
}

function isSlot(value: LimitSlot | string): value is LimitSlot {
  return typeof value !== "string";
}

describe("Redis state scripts", () => {
  let redis: RedisServer;
  let one: RedisClient;
  let two: RedisClient;
  const health = new StoreHealth(silent, "deny");

  before(async () => {
    redis = await startRedis();
    [one, two] = await Promise.all([client(redis), client(redis)]);
  });

  after(async () => {
    await Promise.all([closeRedis(one), closeRedis(two)]);
    await redis.stop();
  });

  beforeEach(async () => {
    await redis.cli("FLUSHALL");
  });

  it("leases: exactly the limit under 40 concurrent acquires from two instances; release gives back", async () => {
    const a = new RedisLimits(one, keys, "a", 10_000, health);
    const b = new RedisLimits(two, keys, "b", 10_000, health);
    try {
      const owners = Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? a : b));
      const results = await Promise.all(
        owners.map((owner, index) => owner.tryAcquire("alice", `10.0.0.${String(index % 7)}`, 5, 0)),
      );
      assert.equal(results.filter(isSlot).length, 5);
      assert.ok(results.every((result) => isSlot(result) || result === "max_connections_per_identity"));
      assert.equal(Number(await redis.cli("ZCARD", keys.identityLeases("alice"))), 5);
      results.forEach((result, index) => {
        if (isSlot(result)) owners[index]!.release(result);
      });
      await Promise.all([one.ping(), two.ping()]);
      assert.equal(Number(await redis.cli("EXISTS", keys.identityLeases("alice"))), 0);
    } finally {
      a.close();
      b.close();
    }
  });

  it("leases: the per-IP limit names itself; both keys are checked before either is taken", async () => {
    const a = new RedisLimits(one, keys, "a", 10_000, health);
    try {
      assert.ok(isSlot(await a.tryAcquire("alice", "10.1.1.1", 5, 1)));
      assert.equal(await a.tryAcquire("bob", "10.1.1.1", 5, 1), "max_connections_per_ip");
      // bob's refused attempt took no identity lease.
      assert.equal(Number(await redis.cli("EXISTS", keys.identityLeases("bob"))), 0);
    } finally {
      a.close();
    }
  });

  it("leases: nothing is sent when no limit applies", async () => {
    const a = new RedisLimits(one, keys, "a", 10_000, health);
    try {
      await redis.cli("CONFIG", "RESETSTAT");
      const slot = await a.tryAcquire("alice", "10.2.2.2", 0, 0);
      assert.ok(isSlot(slot));
      a.release(slot);
      await a.tryAcquire(undefined, "10.2.2.2", 3, 0);
      const stats = await redis.cli("INFO", "commandstats");
      assert.doesNotMatch(stats, /cmdstat_eval/);
    } finally {
      a.close();
    }
  });

  it("leases: an instance that stops refreshing loses them within the TTL; the heartbeat keeps them", async () => {
    const dead = new RedisLimits(one, keys, "dead", 400, health);
    const alive = new RedisLimits(two, keys, "alive", 400, health);
    try {
      assert.ok(isSlot(await dead.tryAcquire("carol", "10.3.3.3", 2, 0)));
      assert.ok(isSlot(await alive.tryAcquire("carol", "10.3.3.4", 2, 0)));
      dead.close(); // its heartbeat stops, as when the process is killed
      assert.equal(await alive.tryAcquire("carol", "10.3.3.5", 2, 0), "max_connections_per_identity");
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // alive's lease was refreshed (every TTL/3); dead's expired.
      const third = await alive.tryAcquire("carol", "10.3.3.5", 2, 0);
      assert.ok(isSlot(third));
      assert.equal(await alive.tryAcquire("carol", "10.3.3.6", 2, 0), "max_connections_per_identity");
    } finally {
      dead.close();
      alive.close();
    }
  });

  it("leases: the heartbeat adds back what Redis lost", async () => {
    const a = new RedisLimits(one, keys, "a", 10_000, health);
    try {
      assert.ok(isSlot(await a.tryAcquire("dave", "10.4.4.4", 3, 0)));
      await redis.cli("FLUSHALL");
      await a.refresh();
      assert.equal(Number(await redis.cli("ZCARD", keys.identityLeases("dave"))), 1);
      const ttl = Number(await redis.cli("PTTL", keys.identityLeases("dave")));
      assert.ok(ttl > 0 && ttl <= 10_000, `pttl ${String(ttl)}`);
    } finally {
      a.close();
    }
  });

  it("throttle: failures on one instance block the address on the other", async () => {
    const a = new RedisThrottle(one, keys, "a", { ...THROTTLE, now: Date.now }, health);
    const b = new RedisThrottle(two, keys, "b", { ...THROTTLE, now: Date.now }, health);
    for (let index = 0; index < 3; index++) a.recordFailure(`user${String(index)}`, "10.5.5.5");
    await one.ping();
    assert.deepEqual(await b.admit("someone", "10.5.5.5"), { throttledBy: "client_address" });
    const other = await b.admit("someone", "10.5.5.6");
    assert.equal(other.throttledBy, undefined);
  });

  it("throttle: smart lockout — suspects refused, familiar admitted, one probe at a time, names folded", async () => {
    const a = new RedisThrottle(one, keys, "a", { ...THROTTLE, now: Date.now }, health);
    const b = new RedisThrottle(two, keys, "b", { ...THROTTLE, now: Date.now }, health);
    a.recordSuccess("erin", "10.6.0.7"); // a familiar address
    a.recordFailure("erin", "10.6.0.1");
    b.recordFailure("ERIN", "10.6.0.2");
    a.recordFailure("Erin", "10.6.0.3");
    await Promise.all([one.ping(), two.ping()]);
    assert.deepEqual(await b.admit("erin", "10.6.0.1"), { throttledBy: "username" }, "a suspect address");
    assert.equal((await b.admit("erin", "10.6.0.7")).throttledBy, undefined, "the familiar address");
    const probe = await a.admit("erin", "10.6.0.9");
    assert.equal(probe.throttledBy, undefined, "an unfamiliar address may probe");
    assert.deepEqual(await b.admit("erin", "10.6.0.9"), { throttledBy: "username" }, "one probe in flight");
    probe.release();
    await one.ping();
    const again = await b.admit("erin", "10.6.0.9");
    assert.equal(again.throttledBy, undefined, "the next probe after the first was decided");
    again.release();
  });

  it("throttle: a success clears only its own address's failures for the username", async () => {
    const a = new RedisThrottle(one, keys, "a", { ...THROTTLE, now: Date.now }, health);
    a.recordFailure("frank", "10.7.0.1");
    a.recordFailure("frank", "10.7.0.2");
    a.recordSuccess("frank", "10.7.0.1");
    await one.ping();
    assert.equal(Number(await redis.cli("ZCARD", keys.usernameFailures("frank"))), 1);
    a.recordFailure("frank", "10.7.0.3");
    a.recordFailure("frank", "10.7.0.4");
    await one.ping();
    assert.equal(Number(await redis.cli("EXISTS", keys.usernameBlock("frank"))), 1, "three failures from others");
    assert.equal(Number(await redis.cli("EXISTS", keys.addressBlock("10.7.0.1"))), 0);
  });
});
