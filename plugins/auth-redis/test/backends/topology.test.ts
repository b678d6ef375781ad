import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { hashPassword } from "@gatehouse-proxy/core";
import plugin, { userKey } from "@gatehouse-proxy/auth-redis";
import { Cluster, Redis } from "ioredis";
import { FAST, noSignal, recordingLogger, request, wire } from "../helpers/fixtures.js";
import { startCluster, startSentinel } from "../helpers/redis-server.js";
import type { RedisCluster, RedisSentinel } from "../helpers/redis-server.js";

const PREFIX = "gatehouse:user:";
const NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "*", "a:b", "{tag}"];

describe("auth-redis with a 3-master Redis Cluster", () => {
  let cluster: RedisCluster;

  before(async () => {
    cluster = await startCluster();
    const seed = new Cluster(
      cluster.addresses.map((address) => ({ host: "127.0.0.1", port: Number(address.split(":")[1]) })),
    );
    for (const name of NAMES) {
      await seed.hset(userKey(PREFIX, name), { password: await hashPassword(`${name}-pw`, FAST), groups: `g-${name}` });
    }
    await seed.quit();
  });
  after(async () => {
    await cluster.stop();
  });

  it("users spread over the masters all log in; wrong passwords are false", async () => {
    // Only one node is configured: the others are discovered.
    const { provider } = wire({ cluster: [cluster.addresses[0]] });
    await provider.init?.();
    try {
      for (const name of NAMES) {
        assert.deepEqual(
          await provider.authenticate(request(name, `${name}-pw`), noSignal),
          { identities: [{ identity: name, context: "ProxyAuthRfc1929" }], groups: [`g-${name}`] },
          name,
        );
        assert.equal(await provider.authenticate(request(name, "wrong"), noSignal), false, name);
      }
      const perNode = await Promise.all(cluster.nodes.map(async (node) => Number(await node.cli("DBSIZE"))));
      assert.ok(perNode.filter((count) => count > 0).length >= 2, `keys on several masters: ${perNode.join(",")}`);
    } finally {
      await provider.close?.();
    }
  });

  it("the user store lists users from every master", async () => {
    const store = await plugin.userStore!(plugin.configSchema.parse({ cluster: cluster.addresses }), {
      instanceName: "redis",
      configDir: "/nonexistent",
      logger: recordingLogger(),
    });
    try {
      const listed: string[] = [];
      for await (const user of store.list()) listed.push(user.username);
      assert.deepEqual(listed.sort(), [...NAMES].sort());
    } finally {
      await store.close();
    }
  });
});

describe("auth-redis through Redis Sentinel", () => {
  let sentinel: RedisSentinel;

  before(async () => {
    sentinel = await startSentinel();
    const seed = new Redis(sentinel.master.url);
    await seed.hset(userKey(PREFIX, "alice"), { password: await hashPassword("alicepw", FAST), identity: "Alice" });
    seed.disconnect();
  });
  after(async () => {
    await sentinel.stop();
  });

  it("finds the master by name and authenticates", async () => {
    const { provider } = wire({ sentinels: [`127.0.0.1:${String(sentinel.sentinelPort)}`], name: sentinel.masterName });
    await provider.init?.();
    try {
      assert.deepEqual(await provider.authenticate(request("alice", "alicepw"), noSignal), {
        identities: [{ identity: "Alice", context: "ProxyAuthRfc1929" }],
      });
      assert.equal(await provider.authenticate(request("alice", "nope"), noSignal), false);
    } finally {
      await provider.close?.();
    }
  });

  it("an unknown master name stops startup within the timeouts", async () => {
    const { provider } = wire({
      sentinels: [`127.0.0.1:${String(sentinel.sentinelPort)}`],
      name: "no-such-master",
      connect_timeout: "500ms",
      command_timeout: "500ms",
    });
    const start = Date.now();
    await assert.rejects(provider.init!());
    assert.ok(Date.now() - start < 1000 + 2000);
    await provider.close?.();
  });
});
