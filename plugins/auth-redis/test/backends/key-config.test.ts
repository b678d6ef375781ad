import "reflect-metadata";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeUsername, encodeUsername, redisConfigSchema, userKeyPattern } from "@gatehouse-proxy/auth-redis";

describe("auth-redis key encoding", () => {
  const names = [
    "alice",
    "a:b",
    "a%3Ab",
    "*",
    "?",
    "[a]",
    "\\",
    "__proto__",
    "\r\nFLUSHALL",
    "ü",
    "x".repeat(255),
    " ",
  ];

  it("is injective, glob-free and round-trips", () => {
    const encoded = names.map(encodeUsername);
    assert.equal(new Set(encoded).size, names.length);
    for (const [index, key] of encoded.entries()) {
      assert.match(key, /^[A-Za-z0-9_.%-]+$/);
      assert.equal(decodeUsername(key), names[index]);
    }
    assert.equal(encodeUsername("alice"), "alice");
    assert.equal(encodeUsername("a:b"), "a%3Ab");
    assert.equal(encodeUsername("a%3Ab"), "a%253Ab");
  });

  it("decoding refuses what the encoder never produces", () => {
    for (const foreign of ["a:b", "%3a", "%zz", "a%3", "%61", "*"])
      assert.equal(decodeUsername(foreign), undefined, foreign);
  });

  it("the SCAN pattern escapes the prefix's glob characters", () => {
    assert.equal(userKeyPattern("gatehouse:user:"), "gatehouse:user:*");
    assert.equal(userKeyPattern("u[1]*?:"), "u\\[1\\]\\*\\?:*");
  });
});

describe("auth-redis config", () => {
  const problems = (raw: unknown): string[] => {
    const result = redisConfigSchema.safeParse(raw);
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  };

  it("defaults: key prefix and timeouts", () => {
    assert.deepEqual(redisConfigSchema.parse({ url: "redis://127.0.0.1:6379" }), {
      url: "redis://127.0.0.1:6379",
      key_prefix: "gatehouse:user:",
      connect_timeout: 2000,
      command_timeout: 1000,
    });
  });

  it("exactly one connection mode, path-accurate errors", () => {
    assert.match(problems({})[0] ?? "", /exactly one of url, sentinels/);
    assert.match(problems({ url: "redis://x:1", cluster: ["x:1"] })[0] ?? "", /exactly one/);
    assert.deepEqual(problems({ url: "http://x" }), ["url: must start with redis:// or rediss://"]);
    assert.deepEqual(problems({ sentinels: ["127.0.0.1:26379"] }), ["name: sentinels needs the master's name"]);
    assert.deepEqual(problems({ cluster: ["h:1"], db: 2 }), ["db: Redis Cluster has only database 0"]);
    assert.deepEqual(problems({ url: "redis://x:1", command_timeout: "soon" }), [
      'command_timeout: expected a duration such as 500ms, 60s or 5m, got "soon"',
    ]);
    assert.deepEqual(problems({ url: "redis://x:1", bogus: 1 }).length, 1);
    assert.deepEqual(problems({ url: "redis://x:1", password: "a", password_file: "b" }), [
      "password_file: set password or password_file, not both",
    ]);
    assert.deepEqual(problems({ url: "redis://x:1", tls: {} }), ["tls: tls needs a rediss:// url"]);
    assert.deepEqual(problems({ cluster: ["nohost"] }), ["cluster.0: expected host:port (IPv6 as [addr]:port)"]);
  });
});
