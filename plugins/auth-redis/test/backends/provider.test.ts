import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { hashPassword } from "@gatehouse-proxy/core";
import { userKey } from "@gatehouse-proxy/auth-redis";
import bcrypt from "bcryptjs";
import { Redis } from "ioredis";
import { FAST, monitorCommands, noSignal, request, wire } from "../helpers/fixtures.js";
import type { Wired } from "../helpers/fixtures.js";
import { startRedis, tempDir } from "../helpers/redis-server.js";
import type { RedisServer } from "../helpers/redis-server.js";

const PREFIX = "gatehouse:user:";

describe("auth-redis against a real redis-server", () => {
  let redis: RedisServer;
  let seed: Redis;
  let wired: Wired;

  const put = (username: string, fields: Record<string, string>) => seed.hset(userKey(PREFIX, username), fields);

  before(async () => {
    redis = await startRedis();
    seed = new Redis(redis.url);
    await put("alice", { password: await hashPassword("alicepw", FAST), groups: '["proxy-users","premium"]' });
    await put("bob", {
      password: await hashPassword("bobpw", FAST),
      groups: "ops, dev ,",
      identity: "bob@example.com",
    });
    await put("carol", { password: await hashPassword("carolpw", FAST), disabled: "true" });
    await put("dave", { password: await hashPassword("davepw", FAST), disabled: "false" });
    wired = wire({ url: redis.url });
    await wired.provider.init?.();
  });
  after(async () => {
    await wired.provider.close?.();
    seed.disconnect();
    await redis.stop();
  });

  it("the right password succeeds with groups from a JSON array", async () => {
    assert.deepEqual(await wired.provider.authenticate(request("alice", "alicepw"), noSignal), {
      identities: [{ identity: "alice", context: "ProxyAuthRfc1929" }],
      groups: ["proxy-users", "premium"],
    });
  });

  it("groups as a comma list and an identity field", async () => {
    assert.deepEqual(await wired.provider.authenticate(request("bob", "bobpw"), noSignal), {
      identities: [{ identity: "bob@example.com", context: "ProxyAuthRfc1929" }],
      groups: ["ops", "dev"],
    });
  });

  it("a wrong password, an unknown user and a disabled user are false", async () => {
    assert.equal(await wired.provider.authenticate(request("alice", "wrong"), noSignal), false);
    assert.equal(await wired.provider.authenticate(request("nobody", "alicepw"), noSignal), false);
    assert.equal(await wired.provider.authenticate(request("carol", "carolpw"), noSignal), false);
    assert.deepEqual(await wired.provider.authenticate(request("dave", "davepw"), noSignal), {
      identities: [{ identity: "dave", context: "ProxyAuthRfc1929" }],
    });
  });

  it("an unknown user costs about the KDF work of a wrong password (the dummy verify runs)", async () => {
    // Default-parameter records (ln=15): an unknown user must not answer much faster than a known one.
    await put("erin", { password: await hashPassword("erinpw") });
    const time = async (username: string): Promise<number> => {
      const start = process.hrtime.bigint();
      await wired.provider.authenticate(request(username, "wrong"), noSignal);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const known = Math.min(await time("erin"), await time("erin"), await time("erin"));
    const unknown = Math.min(await time("nobody"), await time("nobody"), await time("nobody"));
    assert.ok(unknown > known * 0.5, `unknown user ${String(unknown)} ms vs known ${String(known)} ms`);
  });

  it("bcrypt $2a$, $2b$ and $2y$ records from an existing store", async () => {
    const hash = await bcrypt.hash("bcryptpw", 4);
    for (const variant of ["2a", "2b", "2y"]) {
      await put(`bc-${variant}`, { password: hash.replace(/^\$2[aby]\$/, `$${variant}$`) });
      assert.notEqual(
        await wired.provider.authenticate(request(`bc-${variant}`, "bcryptpw"), noSignal),
        false,
        variant,
      );
      assert.equal(await wired.provider.authenticate(request(`bc-${variant}`, "nope"), noSignal), false, variant);
    }
  });

  it("usernames that look like keys, patterns or commands map to distinct keys and run exactly one HGETALL each", async () => {
    const names = [
      "a:b",
      "*",
      "?",
      "[a]",
      "__proto__",
      "\r\nFLUSHALL",
      "x".repeat(255),
      "gatehouse:user:alice",
      "%61lice",
      "ünï",
    ];
    const passwords = new Map<string, string>();
    for (const [index, name] of names.entries()) {
      passwords.set(name, `pw-${String(index)}`);
      await put(name, { password: await hashPassword(`pw-${String(index)}`, FAST), identity: `id-${String(index)}` });
    }
    assert.equal(new Set(names.map((name) => userKey(PREFIX, name))).size, names.length);
    for (const name of names) assert.doesNotMatch(userKey(PREFIX, name).slice(PREFIX.length), /[*?[\]\\:\s]/);

    const keysBefore = await seed.dbsize();
    const commands = await monitorCommands(redis.url, async () => {
      for (const [index, name] of names.entries()) {
        const result = await wired.provider.authenticate(request(name, passwords.get(name)!), noSignal);
        assert.deepEqual(
          result,
          { identities: [{ identity: `id-${String(index)}`, context: "ProxyAuthRfc1929" }] },
          name,
        );
        // Each one's password is refused for every other name.
        assert.equal(await wired.provider.authenticate(request(name, "pw-x"), noSignal), false, name);
      }
    });
    assert.equal(commands.length, names.length * 2, JSON.stringify(commands));
    for (const args of commands) assert.equal(args[0]?.toLowerCase(), "hgetall");
    assert.equal(await seed.dbsize(), keysBefore, "no key was added or removed");
    assert.ok((await seed.exists(userKey(PREFIX, "alice"))) === 1, "nothing was flushed");
  });
});

describe("auth-redis: unusable records deny with an error log and the provider keeps working", () => {
  let redis: RedisServer;
  let seed: Redis;
  let wired: Wired;
  let bc = "";

  before(async () => {
    bc = await bcrypt.hash("x", 4);
    redis = await startRedis();
    seed = new Redis(redis.url);
    wired = wire({ url: redis.url });
    await wired.provider.init?.();
    await seed.hset(userKey(PREFIX, "good"), { password: await hashPassword("goodpw", FAST) });
  });
  after(async () => {
    await wired.provider.close?.();
    seed.disconnect();
    await redis.stop();
  });

  const cases: Array<[string, (key: string) => Promise<unknown>, RegExp]> = [
    ["no password field", (key) => seed.hset(key, { groups: "a" }), /no password field/],
    [
      "a plaintext password",
      (key) => seed.hset(key, { password: "hunter2" }),
      /not a password record \(GH_PASSWORD_RECORD_MALFORMED\)/,
    ],
    [
      "an unknown algorithm",
      (key) => seed.hset(key, { password: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA" }),
      /GH_PASSWORD_RECORD_UNKNOWN_ALGORITHM/,
    ],
    [
      "absurd scrypt cost (ln=30)",
      (key) =>
        seed.hset(key, {
          password: "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        }),
      /GH_PASSWORD_RECORD_COST_OUT_OF_RANGE/,
    ],
    [
      "absurd bcrypt cost (31)",
      (key) => seed.hset(key, { password: "$2b$31$abcdefghijklmnopqrstuuQ4Xf4p7oVQ5mJmRxF7UdOcJmTt4wHfS" }),
      /GH_PASSWORD_RECORD_COST_OUT_OF_RANGE/,
    ],
    ["a truncated scrypt record", (key) => seed.hset(key, { password: "$scrypt$ln=10,r=8,p=1$c2FsdA" }), /malformed/],
    [
      "groups that are not a JSON array of strings",
      (key) => seed.hset(key, { password: bc, groups: "[1,2]" }),
      /groups/,
    ],
    ["broken JSON groups", (key) => seed.hset(key, { password: bc, groups: '["a",' }), /groups/],
    ["an unreadable disabled flag", (key) => seed.hset(key, { password: bc, disabled: "maybe" }), /disabled/],
    ["an empty identity", (key) => seed.hset(key, { password: bc, identity: " " }), /identity/],
    ["a string key (WRONGTYPE)", (key) => seed.set(key, "not a hash"), /WRONGTYPE/],
    ["a list key (WRONGTYPE)", (key) => seed.rpush(key, "a", "b"), /WRONGTYPE/],
  ];

  for (const [index, [title, make, expected]] of cases.entries()) {
    it(`${title}: throws (the pipeline denies as an error), never quotes the record`, async () => {
      const name = `bad-${String(index)}`;
      await make(userKey(PREFIX, name));
      await assert.rejects(wired.provider.authenticate(request(name, "hunter2"), noSignal), (error: Error) => {
        assert.match(error.message, expected);
        assert.doesNotMatch(error.message, /hunter2|c2FsdA|argon2id|not a hash/);
        if (bc !== "") assert.ok(!error.message.includes(bc.slice(7)));
        return true;
      });
      assert.ok(
        title.includes("WRONGTYPE") ||
          wired.logger.lines.some((line) => line.includes('"level":"error"') && line.includes(name)),
        "an error-level log names the user",
      );
      assert.ok(!wired.logger.lines.some((line) => line.includes("hunter2")), "the password is never logged");
      // The process and the provider keep working.
      assert.notEqual(await wired.provider.authenticate(request("good", "goodpw"), noSignal), false);
    });
  }
});

describe("auth-redis: requirepass", () => {
  let redis: RedisServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    redis = await startRedis({ requirepass: "s3cret-redis" });
    dir = await tempDir();
    const seed = new Redis(redis.url, { password: "s3cret-redis" });
    await seed.hset(userKey(PREFIX, "alice"), { password: await hashPassword("alicepw", FAST) });
    seed.disconnect();
  });
  after(async () => {
    await redis.stop();
    await dir.remove();
  });

  it("the right password (inline and from password_file) works", async () => {
    await dir.write("redis-password", "s3cret-redis\n");
    for (const config of [
      { url: redis.url, password: "s3cret-redis" },
      { url: redis.url, password_file: "redis-password" },
    ]) {
      const { provider } = wire(config, dir.path);
      await provider.init?.();
      assert.notEqual(await provider.authenticate(request("alice", "alicepw"), noSignal), false);
      await provider.close?.();
    }
  });

  it("a wrong or missing password stops startup with an error that does not quote it", async () => {
    for (const config of [{ url: redis.url, password: "wrong-redis-pw" }, { url: redis.url }]) {
      const { provider } = wire(config);
      const start = Date.now();
      await assert.rejects(provider.init!(), (error: Error) => {
        assert.match(error.message, /WRONGPASS|NOAUTH|invalid|Authentication/i);
        assert.doesNotMatch(error.message, /wrong-redis-pw/);
        return true;
      });
      assert.ok(Date.now() - start < 5000);
      await provider.close?.();
    }
  });
});

describe("auth-redis: the abort signal", () => {
  it("an aborted attempt rejects at once while Redis does not answer", async () => {
    const redis = await startRedis();
    const { provider } = wire({ url: redis.url, command_timeout: "10s" });
    await provider.init?.();
    redis.pause();
    try {
      const controller = new AbortController();
      const attempt = provider.authenticate(request("alice", "pw"), controller.signal);
      setTimeout(() => controller.abort(new Error("caller left")), 100);
      const start = Date.now();
      await assert.rejects(attempt, /caller left/);
      assert.ok(Date.now() - start < 2000);
    } finally {
      redis.resume();
      await provider.close?.();
      await redis.stop();
    }
  });
});
