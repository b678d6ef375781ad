import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { hashPassword } from "@gatehouse-proxy/core";
import { userKey } from "@gatehouse-proxy/auth-redis";
import { Redis } from "ioredis";
import { FAST, noSignal, request, wire } from "../helpers/fixtures.js";
import type { Wired } from "../helpers/fixtures.js";
import { startBlackhole, startRedis } from "../helpers/redis-server.js";
import type { RedisServer } from "../helpers/redis-server.js";

const COMMAND_TIMEOUT_MS = 500;

async function seedAlice(url: string): Promise<void> {
  const seed = new Redis(url);
  await seed.hset(userKey("gatehouse:user:", "alice"), { password: await hashPassword("alicepw", FAST) });
  seed.disconnect();
}

/** Milliseconds the attempt took to reject. */
async function rejectsWithin(attempt: Promise<unknown>): Promise<number> {
  const start = Date.now();
  await assert.rejects(attempt);
  return Date.now() - start;
}

describe("auth-redis: Redis goes away and comes back", () => {
  let redis: RedisServer;
  let wired: Wired;

  before(async () => {
    redis = await startRedis();
    await seedAlice(redis.url);
    wired = wire({ url: redis.url, connect_timeout: "1s", command_timeout: `${String(COMMAND_TIMEOUT_MS)}ms` });
    await wired.provider.init?.();
  });
  after(async () => {
    await wired.provider.close?.();
    await redis.stop();
  });

  it("killed mid-run: every attempt errors within command_timeout, then recovers after a restart", async () => {
    assert.notEqual(await wired.provider.authenticate(request("alice", "alicepw"), noSignal), false);
    await redis.kill();
    for (let index = 0; index < 5; index++) {
      const took = await rejectsWithin(wired.provider.authenticate(request("alice", "alicepw"), noSignal));
      assert.ok(took < COMMAND_TIMEOUT_MS + 2000, `attempt ${String(index)} took ${String(took)} ms`);
    }
    await redis.restart();
    await seedAlice(redis.url); // nothing is persisted
    const deadline = Date.now() + 10_000;
    let result: unknown = undefined;
    while (Date.now() < deadline) {
      result = await wired.provider.authenticate(request("alice", "alicepw"), noSignal).catch(() => "error");
      if (result !== "error") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(result, { identities: [{ identity: "alice", context: "ProxyAuthRfc1929" }] });
    assert.ok(
      wired.logger.lines.some((line) => line.includes("redis_connection_lost")),
      "the outage was logged",
    );
    assert.ok(!wired.logger.lines.some((line) => line.includes("alicepw")));
  });

  it("frozen mid-run (SIGSTOP: connected, never answers): errors within command_timeout, then recovers", async () => {
    redis.pause();
    try {
      const took = await rejectsWithin(wired.provider.authenticate(request("alice", "alicepw"), noSignal));
      assert.ok(took < COMMAND_TIMEOUT_MS + 2000, `took ${String(took)} ms`);
    } finally {
      redis.resume();
    }
    const deadline = Date.now() + 10_000;
    let result: unknown;
    do {
      result = await wired.provider.authenticate(request("alice", "alicepw"), noSignal).catch(() => "error");
    } while (result === "error" && Date.now() < deadline);
    assert.notEqual(result, "error");
  });
});

describe("auth-redis: a server that accepts and never replies", () => {
  it("startup fails within connect_timeout + command_timeout", async () => {
    const blackhole = await startBlackhole();
    const { provider } = wire({
      url: `redis://127.0.0.1:${String(blackhole.port)}`,
      connect_timeout: "500ms",
      command_timeout: "500ms",
    });
    try {
      const took = await rejectsWithin(provider.init!());
      assert.ok(took < 1000 + 2000, `took ${String(took)} ms`);
      assert.ok(blackhole.accepted >= 1, "it did connect");
    } finally {
      await provider.close?.();
      await blackhole.stop();
    }
  });

  it("nothing listening: startup fails fast", async () => {
    const blackhole = await startBlackhole();
    const port = blackhole.port;
    await blackhole.stop();
    const { provider } = wire({ url: `redis://127.0.0.1:${String(port)}`, connect_timeout: "500ms" });
    const took = await rejectsWithin(provider.init!());
    assert.ok(took < 1500 + 2000, `took ${String(took)} ms`);
  });
});
