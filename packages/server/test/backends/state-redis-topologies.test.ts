// `state: {store: redis}` on the other Redis topologies auth-redis supports: a real Redis Cluster
// (three masters; key_prefix with a hash tag) and a real Sentinel in front of a master. Two
// stores opened from a validated config stand for two instances: leases, the throttle and
// revocations are shared through each topology as through a single Redis.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LimitSlot } from "@gatehouse-proxy/core/engine";
import { pino } from "pino";
import { startCluster, startSentinel } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import { validateConfig } from "../../dist/config/load.js";
import { openRedisState } from "../../dist/state/state-store.js";
import type { RedisStateStore } from "../../dist/state/state-store.js";

const silent = pino({ enabled: false });

function isSlot(value: LimitSlot | string): value is LimitSlot {
  return typeof value !== "string";
}

/** Two instances' stores on the `state` config given (validated as gatehouse validates it). */
async function twoInstances(state: Record<string, unknown>): Promise<[RedisStateStore, RedisStateStore]> {
  const config = validateConfig({ listeners: [{ listen: "127.0.0.1:0" }], state: { store: "redis", ...state } });
  assert.ok(config.state !== undefined && config.state.store === "redis");
  const throttle = { maxFailures: 2, windowMs: 60_000, blockMs: 60_000, maxTracked: 100, familiarMs: 86_400_000 };
  return Promise.all([
    openRedisState(config.state, process.cwd(), silent, throttle),
    openRedisState(config.state, process.cwd(), silent, throttle),
  ]);
}

/** What every topology must share: exact leases, the throttle, revocations in both directions. */
async function sharesState([a, b]: [RedisStateStore, RedisStateStore]): Promise<void> {
  const first = await a.limits.tryAcquire("alice", "10.0.0.1", 2, 0);
  const second = await b.limits.tryAcquire("alice", "10.0.0.2", 2, 0);
  assert.ok(isSlot(first) && isSlot(second));
  assert.equal(await a.limits.tryAcquire("alice", "10.0.0.3", 2, 0), "max_connections_per_identity");
  b.limits.release(second);
  let third: LimitSlot | string = "";
  for (let tries = 0; tries < 50 && !isSlot(third); tries++) {
    third = await a.limits.tryAcquire("alice", "10.0.0.3", 2, 0); // the release is not awaited
  }
  assert.ok(isSlot(third), "a released lease makes room on the other instance");

  a.throttle.recordFailure("bob", "10.9.9.9");
  b.throttle.recordFailure("carol", "10.9.9.9");
  let admission = await b.throttle.admit("dave", "10.9.9.9");
  for (let tries = 0; tries < 50 && admission.throttledBy === undefined; tries++) {
    admission.release();
    admission = await b.throttle.admit("dave", "10.9.9.9"); // the records are not awaited
  }
  assert.deepEqual(admission, { throttledBy: "client_address" }, "two failures on two instances block the address");

  const heardByA: string[] = [];
  const heardByB: string[] = [];
  a.onRevocation((identity) => heardByA.push(identity));
  b.onRevocation((identity) => heardByB.push(identity));
  const heardByBoth = (identity: string): boolean => heardByA.includes(identity) && heardByB.includes(identity);
  /** Runs `step` every 25 ms until `done` (at most 5 s). */
  const repeatUntil = async (done: () => boolean, step?: () => Promise<unknown>) => {
    for (const deadline = Date.now() + 5000; !done() && Date.now() < deadline;) {
      await step?.();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  // Both subscriptions are made once a probe, published until then, reaches both.
  await repeatUntil(
    () => heardByBoth("probe"),
    () => a.publishRevocation("probe"),
  );
  await a.publishRevocation("erin");
  await repeatUntil(() => heardByBoth("erin"));
  const erin = (heard: string[]): string[] => heard.filter((identity) => identity === "erin");
  assert.deepEqual(
    [erin(heardByA), erin(heardByB)],
    [["erin"], ["erin"]],
    "the publisher and the other instance hear it once",
  );
  assert.deepEqual(
    [a.health.failures(), b.health.failures()],
    [
      { denied: 0, local: 0, none: 0 },
      { denied: 0, local: 0, none: 0 },
    ],
  );
}

describe("state: redis on a Redis Cluster (three masters)", () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let stores: [RedisStateStore, RedisStateStore];

  before(async () => {
    cluster = await startCluster();
    stores = await twoInstances({ cluster: cluster.addresses, key_prefix: "{gh}:state:" });
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await cluster.stop();
  });

  it("shares leases, the throttle and revocations", () => sharesState(stores));

  it("a key_prefix without a hash tag is refused by the config check", () => {
    assert.throws(
      () =>
        validateConfig({
          listeners: [{ listen: "127.0.0.1:0" }],
          state: { store: "redis", cluster: cluster.addresses, key_prefix: "gh:state:" },
        }),
      /hash tag/,
    );
  });
});

describe("state: redis through Redis Sentinel", () => {
  let sentinel: Awaited<ReturnType<typeof startSentinel>>;
  let stores: [RedisStateStore, RedisStateStore];

  before(async () => {
    sentinel = await startSentinel();
    stores = await twoInstances({
      sentinels: [`127.0.0.1:${String(sentinel.sentinelPort)}`],
      name: sentinel.masterName,
    });
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await sentinel.stop();
  });

  it("shares leases, the throttle and revocations", () => sharesState(stores));
});
