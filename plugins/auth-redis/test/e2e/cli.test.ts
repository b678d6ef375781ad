import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { userKey } from "@gatehouse-proxy/auth-redis";
import { Redis } from "ioredis";
import { curl, runCli, startGatehouse } from "../helpers/cli.js";
import type { RunningGatehouse } from "../helpers/cli.js";
import { startRedis, tempDir } from "../helpers/redis-server.js";
import type { RedisServer } from "../helpers/redis-server.js";

describe("gatehouse users end to end: the real CLI writes Redis, a real gatehouse process reads it", () => {
  let redis: RedisServer;
  let seed: Redis;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let config: string;
  let http: Server;
  let target: string;
  let gatehouse: RedisGatehouse;

  type RedisGatehouse = RunningGatehouse;

  before(async () => {
    redis = await startRedis({ requirepass: "redis-admin-pw" });
    seed = new Redis(redis.url, { password: "redis-admin-pw" });
    dir = await tempDir();
    await dir.write("redis.pass", "redis-admin-pw\n");
    config = await dir.write(
      "gatehouse.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  provider: shared",
        "  cache: false",
        "  providers:",
        "    shared:",
        "      use: redis",
        `      url: ${redis.url}`,
        "      password_file: redis.pass",
        "      key_prefix: 'gh:u:'",
        "      command_timeout: 1s",
        "log:",
        "  level: info",
        "",
      ].join("\n"),
    );
    http = createServer((req, res) => res.end(`hello ${req.url ?? ""}`));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    target = `http://localhost:${String((http.address() as AddressInfo).port)}`;
    gatehouse = await startGatehouse(config);
  });
  after(async () => {
    await gatehouse.stop();
    await new Promise((resolve) => http.close(resolve));
    seed.disconnect();
    await redis.stop();
    await dir.remove();
  });

  it("users add writes a scrypt record with groups; the user then tunnels through gatehouse", async () => {
    const added = await runCli(
      ["users", "add", "alice", "--group", "proxy-users", "--group", "premium", "--config", config],
      "alice-secret\n",
    );
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, "user alice added\n");
    assert.equal(added.stderr, "", "a clean run logs nothing (closing is not an outage)");
    const record = await seed.hgetall(userKey("gh:u:", "alice"));
    assert.match(record["password"] ?? "", /^\$scrypt\$ln=15,r=8,p=1\$/);
    assert.equal(record["groups"], '["proxy-users","premium"]');
    assert.ok(!JSON.stringify(record).includes("alice-secret"));

    assert.deepEqual(await curl(gatehouse.port, "alice:alice-secret", `${target}/in`), {
      exitCode: 0,
      stdout: "hello /in",
    });
    assert.equal((await curl(gatehouse.port, "alice:wrong", `${target}/no`)).exitCode, 97);
  });

  it("users add refuses an existing user and an empty password", async () => {
    const again = await runCli(["users", "add", "alice", "--config", config], "other\n");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);
    const empty = await runCli(["users", "add", "zed", "--config", config], "\n");
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /empty password/);
    assert.equal(await seed.exists(userKey("gh:u:", "zed")), 0);
  });

  it("a username with glob characters round-trips through add, list and login", async () => {
    const added = await runCli(["users", "add", "ops*[x]", "--identity", "Ops Team", "--config", config], "ops-pw");
    assert.equal(added.code, 0, added.stderr);
    const listed = await runCli(["users", "list", "--config", config]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      listed.stdout
        .split("\n")
        .filter((line) => line !== "")
        .sort(),
      ["alice\tproxy-users,premium", "ops*[x]\t"].sort(),
    );
    assert.equal((await curl(gatehouse.port, "ops*[x]:ops-pw", `${target}/ops`)).exitCode, 0);
  });

  it("users passwd: the old password stops working, the new one works", async () => {
    const changed = await runCli(["users", "passwd", "alice", "--config", config], "alice-new\n");
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal((await curl(gatehouse.port, "alice:alice-secret", `${target}/old`)).exitCode, 97);
    assert.equal((await curl(gatehouse.port, "alice:alice-new", `${target}/new`)).exitCode, 0);
    const missing = await runCli(["users", "passwd", "nobody", "--config", config], "x\n");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no user "nobody"/);
  });

  it("users disable denies the next login; list shows it", async () => {
    const disabled = await runCli(["users", "disable", "alice", "--config", config]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.equal((await curl(gatehouse.port, "alice:alice-new", `${target}/off`)).exitCode, 97);
    const listed = await runCli(["users", "list", "--config", config]);
    assert.match(listed.stdout, /^alice\tproxy-users,premium\tdisabled$/m);
  });

  it("users del removes the user; deleting again fails", async () => {
    const deleted = await runCli(["users", "del", "alice", "--config", config]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(await seed.exists(userKey("gh:u:", "alice")), 0);
    const again = await runCli(["users", "del", "alice", "--config", config]);
    assert.equal(again.code, 1);
    assert.equal((await curl(gatehouse.port, "alice:alice-new", `${target}/gone`)).exitCode, 97);
  });

  it("usage errors exit 2; the gatehouse log never holds a password", async () => {
    for (const args of [
      ["users", "add", "--config", config],
      ["users", "frob", "x", "--config", config],
      ["users", "list"],
      ["users", "del", "x", "--group", "g", "--config", config],
      ["users", "add", "x", "--group", "", "--config", config],
      ["users", "add", "x", "--identity", " ", "--config", config],
    ]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, args.join(" "));
    }
    for (const secret of ["alice-secret", "alice-new", "ops-pw", "redis-admin-pw"]) {
      assert.ok(!gatehouse.output().includes(secret), secret);
    }
  });

  it("which provider: the only one with a user store, or --provider NAME when several", async () => {
    const lines = (providers: string[]) =>
      ["listeners: [{ listen: 127.0.0.1:0 }]", "auth:", "  chain: [a, b]", "  providers:", ...providers, ""].join("\n");
    const redisEntry = (name: string) =>
      `    ${name}: { use: redis, url: '${redis.url}', password_file: redis.pass, key_prefix: '${name}:' }`;
    const staticEntry = (name: string) => `    ${name}: { use: static, users: {} }`;
    const mixed = await dir.write("mixed.yaml", lines([staticEntry("a"), redisEntry("b")]));
    const listed = await runCli(["users", "list", "--config", mixed]);
    assert.equal(listed.code, 0, listed.stderr);

    const two = await dir.write("two.yaml", lines([redisEntry("a"), redisEntry("b")]));
    const ambiguous = await runCli(["users", "add", "x", "--config", two], "x-pw");
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /several providers manage users \(a, b\); choose one with --provider NAME/);
    const chosen = await runCli(["users", "add", "x", "--provider", "b", "--config", two], "x-pw");
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.equal(await seed.exists("b:x"), 1);
    assert.equal(await seed.exists("a:x"), 0);

    const none = await dir.write("none.yaml", lines([staticEntry("a"), staticEntry("b")]));
    const refused = await runCli(["users", "list", "--config", none]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /no provider keeps users/);
  });

  it("Redis down: users commands fail with exit 1 within the timeouts", async () => {
    const dead = await dir.write(
      "dead.yaml",
      [
        "listeners: [{ listen: 127.0.0.1:0 }]",
        "auth:",
        "  provider: r",
        "  providers:",
        "    r: { use: redis, url: 'redis://127.0.0.1:1', connect_timeout: 500ms, command_timeout: 500ms }",
        "",
      ].join("\n"),
    );
    const start = Date.now();
    const result = await runCli(["users", "list", "--config", dead]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot connect to Redis/);
    assert.ok(Date.now() - start < 10_000);
  });
});
