import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { hashPassword } from "@gatehouse-proxy/core";
import { userKey } from "@gatehouse-proxy/auth-redis";
import { Redis } from "ioredis";
import { FAST, noSignal, request, wire } from "../helpers/fixtures.js";
import { freePort, startRedis, tempDir } from "../helpers/redis-server.js";
import type { RedisServer } from "../helpers/redis-server.js";

const PREFIX = "gatehouse:user:";

describe("auth-redis over TLS (rediss:// with tls.ca_file)", () => {
  let redis: RedisServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let url: string;

  before(async () => {
    dir = await tempDir();
    await promisify(execFile)("openssl", [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ...["-keyout", join(dir.path, "key.pem"), "-out", join(dir.path, "cert.pem")],
    ]);
    const port = await freePort();
    redis = await startRedis({
      port,
      extraArgs: [
        ...["--port", "0", "--tls-port", String(port), "--tls-auth-clients", "no"],
        ...["--tls-cert-file", join(dir.path, "cert.pem"), "--tls-key-file", join(dir.path, "key.pem")],
      ],
    });
    url = `rediss://127.0.0.1:${String(port)}`;
    const seed = new Redis(url, { tls: { ca: await readFile(join(dir.path, "cert.pem")) } });
    await seed.hset(userKey(PREFIX, "alice"), { password: await hashPassword("alicepw", FAST) });
    seed.disconnect();
  });
  after(async () => {
    await redis.stop();
    await dir.remove();
  });

  it("the CA file (relative to the config folder) verifies the server", async () => {
    const { provider } = wire({ url, tls: { ca_file: "cert.pem" } }, dir.path);
    await provider.init?.();
    assert.notEqual(await provider.authenticate(request("alice", "alicepw"), noSignal), false);
    await provider.close?.();
  });

  it("without the CA, or with another server name, startup fails", async () => {
    for (const config of [{ url }, { url, tls: { ca_file: "cert.pem", servername: "other.example" } }]) {
      const { provider } = wire(config, dir.path);
      await assert.rejects(provider.init!(), /cannot connect to Redis/);
      await provider.close?.();
    }
  });
});

describe("auth-redis with a least-privilege ACL user", () => {
  let redis: RedisServer;

  before(async () => {
    redis = await startRedis();
    await redis.cli(
      ...["ACL", "SETUSER", "gatehouse", "on", ">gh-acl-pw", "resetkeys", `~${PREFIX}*`, "resetchannels"],
      ...["-@all", "+hgetall", "+ping", "+info"],
    );
    const seed = new Redis(redis.url);
    await seed.hset(userKey(PREFIX, "alice"), { password: await hashPassword("alicepw", FAST) });
    await seed.hset("elsewhere:alice", { password: await hashPassword("alicepw", FAST) });
    seed.disconnect();
  });
  after(async () => {
    await redis.stop();
  });

  it("HGETALL, PING and INFO on the prefix are all the provider needs", async () => {
    const { provider } = wire({ url: redis.url, username: "gatehouse", password: "gh-acl-pw" });
    await provider.init?.();
    assert.notEqual(await provider.authenticate(request("alice", "alicepw"), noSignal), false);
    assert.equal(await provider.authenticate(request("nobody", "alicepw"), noSignal), false);
    await provider.close?.();
  });

  it("keys outside the ACL's pattern are an error (NOPERM), not a login", async () => {
    const { provider } = wire({
      url: redis.url,
      username: "gatehouse",
      password: "gh-acl-pw",
      key_prefix: "elsewhere:",
    });
    await provider.init?.();
    await assert.rejects(provider.authenticate(request("alice", "alicepw"), noSignal), /NOPERM/);
    await provider.close?.();
  });

  it("a wrong ACL password stops startup", async () => {
    const { provider } = wire({ url: redis.url, username: "gatehouse", password: "nope" });
    await assert.rejects(provider.init!(), /WRONGPASS/);
    await provider.close?.();
  });
});
