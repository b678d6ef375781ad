import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import { hashPassword } from "@gatehouse-proxy/core";
import type { AuthEvent, ProxyServer } from "@gatehouse-proxy/core/engine";
import { userKey } from "@gatehouse-proxy/auth-redis";
import { Redis } from "ioredis";
import { curl } from "../helpers/cli.js";
import { FAST, wire } from "../helpers/fixtures.js";
import type { Wired } from "../helpers/fixtures.js";
import { startRedis } from "../helpers/redis-server.js";
import type { RedisServer } from "../helpers/redis-server.js";

const PREFIX = "gatehouse:user:";

describe("auth-redis end to end: curl through the real engine and pipeline", () => {
  let redis: RedisServer;
  let seed: Redis;
  let wired: Wired;
  let http: Server;
  let proxy: ProxyServer;
  let port: number;
  let target: string;
  const events: AuthEvent[] = [];

  before(async () => {
    redis = await startRedis();
    seed = new Redis(redis.url);
    await seed.hset(userKey(PREFIX, "proxyuser"), {
      password: await hashPassword("secretpassword", FAST),
      groups: '["proxy-users","premium-tier"]',
      identity: "proxy-user@example.com",
    });
    await seed.hset(userKey(PREFIX, "broken"), { password: "plaintext-oops" });
    http = createServer((req, res) => res.end(`hello ${req.url ?? ""}`));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    target = `http://localhost:${String((http.address() as AddressInfo).port)}`;
    wired = wire({ url: redis.url, command_timeout: "500ms" });
    await wired.provider.init?.();
    proxy = createProxyServer({
      listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
      auth: { provider: wired.provider, cache: false, throttle: false, timeout: "3s" },
      hooks: { onAuthDecision: (event) => events.push(event) },
    });
    await proxy.start();
    port = proxy.addresses()[0]!.port;
  });
  after(async () => {
    await proxy.close();
    await wired.provider.close?.();
    await new Promise((resolve) => http.close(resolve));
    seed.disconnect();
    await redis.stop();
  });

  const lastDecision = () => events.at(-1)?.decision;

  it("the right password tunnels, with identity and groups from Redis", async () => {
    assert.deepEqual(await curl(port, "proxyuser:secretpassword", `${target}/ok`), {
      exitCode: 0,
      stdout: "hello /ok",
    });
    const decision = lastDecision();
    assert.ok(decision?.allowed === true);
    assert.deepEqual(decision.info, {
      identities: [{ identity: "proxy-user@example.com", context: "ProxyAuthRfc1929" }],
      groups: ["proxy-users", "premium-tier"],
    });
  });

  it("a wrong password and an unknown user are refused (curl 97) as bad_credentials", async () => {
    for (const credentials of ["proxyuser:wrongpassword", "nobody:secretpassword"]) {
      assert.equal((await curl(port, credentials, `${target}/no`)).exitCode, 97, credentials);
      const decision = lastDecision();
      assert.ok(decision?.allowed === false && decision.reason === "bad_credentials", credentials);
    }
  });

  it("a malformed record is refused as a backend error, not as bad credentials", async () => {
    assert.equal((await curl(port, "broken:plaintext-oops", `${target}/no`)).exitCode, 97);
    const decision = lastDecision();
    assert.ok(decision?.allowed === false && decision.reason === "backend_error");
    assert.match(decision.detail ?? "", /broken/);
    assert.doesNotMatch(decision.detail ?? "", /plaintext-oops/);
  });

  it("Redis killed: curl is refused quickly (backend_error); after a restart logins work again", async () => {
    await redis.kill();
    const start = Date.now();
    assert.equal((await curl(port, "proxyuser:secretpassword", `${target}/down`)).exitCode, 97);
    assert.ok(Date.now() - start < 500 + 2000);
    const decision = lastDecision();
    assert.ok(decision?.allowed === false && decision.reason !== "bad_credentials", JSON.stringify(decision));
    await redis.restart();
    const fresh = new Redis(redis.url);
    await fresh.hset(userKey(PREFIX, "proxyuser"), { password: await hashPassword("secretpassword", FAST) });
    fresh.disconnect();
    let exitCode = -1;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && exitCode !== 0;) {
      exitCode = (await curl(port, "proxyuser:secretpassword", `${target}/back`)).exitCode;
      if (exitCode !== 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(exitCode, 0);
  });
});
