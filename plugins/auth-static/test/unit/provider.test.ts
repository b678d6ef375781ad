import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Tokens, hashPassword } from "@gatehouse-proxy/core";
import { kdfLimiter } from "@gatehouse-proxy/core/engine";
import { StaticProvider, UsersFileError } from "@gatehouse-proxy/auth-static";
import { FAST, noSignal, request, tempDir, users, wire } from "../fixtures.js";
import type { TempDir } from "../fixtures.js";

async function elapsedMs(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

describe("StaticProvider with inline users", () => {
  it("is registered and resolved through a tsyringe child container", async () => {
    const { provider, container } = wire({ users: await users({ alice: { password: "pw" } }) });
    assert.ok(provider instanceof StaticProvider);
    assert.equal(provider.name, "local-users");
    assert.equal(container.resolve(Tokens.AuthProvider), provider, "one provider per instance container");
    await provider.init();
  });

  it("allows the right password with identity and groups; denies a wrong one", async () => {
    const { provider } = wire({
      users: await users({
        proxyuser: { password: "secretpassword", groups: ["proxy-users", "premium-tier"] },
        carol: { password: "pw", identity: "carol@example.com" },
      }),
    });
    assert.deepEqual(await provider.authenticate(request("proxyuser", "secretpassword"), noSignal), {
      identities: [{ identity: "proxyuser", context: "ProxyAuthRfc1929" }],
      groups: ["proxy-users", "premium-tier"],
    });
    assert.deepEqual(await provider.authenticate(request("carol", "pw"), noSignal), {
      identities: [{ identity: "carol@example.com", context: "ProxyAuthRfc1929" }],
    });
    assert.equal(await provider.authenticate(request("proxyuser", "secretpassword "), noSignal), false);
    assert.equal(await provider.authenticate(request("proxyuser", ""), noSignal), false);
    assert.equal(await provider.authenticate(request("PROXYUSER", "secretpassword"), noSignal), false);
  });

  it("an unknown user costs the KDF work of a wrong password (default parameters), then false", async () => {
    const { provider } = wire({ users: { alice: { password: await hashPassword("pw") } } });
    const pending = provider.authenticate(request("mallory", "pw"), noSignal);
    assert.equal(kdfLimiter.active, 1, "a KDF computation started for the unknown user");
    assert.equal(await pending, false);
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      known.push(await elapsedMs(() => provider.authenticate(request("alice", "wrong"), noSignal)));
      unknown.push(await elapsedMs(() => provider.authenticate(request("mallory", "wrong"), noSignal)));
    }
    const median = (values: number[]): number => values.sort((a, b) => a - b)[1]!;
    const ratio = median(unknown) / median(known);
    assert.ok(ratio > 0.5 && ratio < 2, `unknown ${median(unknown)} ms vs known ${median(known)} ms`);
  });

  it("names on Object.prototype are just unknown users", async () => {
    const { provider } = wire({ users: await users({ alice: { password: "pw" } }) });
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      assert.equal(await provider.authenticate(request(name, "pw"), noSignal), false, name);
    }
  });

  it("accepts bcrypt records", async () => {
    // bcryptjs, cost 4: `gatehouse` users migrated from htpasswd-style stores.
    const { default: bcrypt } = await import("bcryptjs");
    const { provider } = wire({ users: { dave: { password: bcrypt.hashSync("pw", 4) } } });
    assert.notEqual(await provider.authenticate(request("dave", "pw"), noSignal), false);
    assert.equal(await provider.authenticate(request("dave", "px"), noSignal), false);
  });

  it("never logs a password", async () => {
    const dir = await tempDir();
    try {
      await dir.write("users.yaml", `users:\n  alice:\n    password: "${await hashPassword("s3cr3t-pw", FAST)}"\n`);
      const { provider, logger } = wire({ users_file: "users.yaml" }, dir.path);
      await provider.init?.();
      await provider.authenticate(request("alice", "s3cr3t-pw"), noSignal);
      await provider.authenticate(request("alice", "wr0ng-pw"), noSignal);
      await provider.authenticate(request("nobody", "n0body-pw"), noSignal);
      assert.ok(logger.lines.length > 0);
      for (const line of logger.lines) assert.doesNotMatch(line, /s3cr3t-pw|wr0ng-pw|n0body-pw|\$scrypt\$/);
    } finally {
      await dir.remove();
    }
  });
});

describe("StaticProvider with a users_file", () => {
  let dir: TempDir;
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  it("reads YAML, relative to the config folder", async () => {
    const record = await hashPassword("pw", FAST);
    await dir.write(
      "users.yaml",
      `# operators\nusers:\n  alice:\n    password: "${record}"\n    groups: [admins]\n    identity: alice@corp\n`,
    );
    const { provider } = wire({ users_file: "users.yaml" }, dir.path);
    assert.equal(await provider.authenticate(request("alice", "pw"), noSignal), false, "nothing before init");
    await provider.init?.();
    assert.deepEqual(await provider.authenticate(request("alice", "pw"), noSignal), {
      identities: [{ identity: "alice@corp", context: "ProxyAuthRfc1929" }],
      groups: ["admins"],
    });
  });

  it("reads JSON, by absolute path", async () => {
    const file = await dir.write("users.json", JSON.stringify({ users: await users({ bob: { password: "pw" } }) }));
    const { provider } = wire({ users_file: file });
    await provider.init?.();
    assert.notEqual(await provider.authenticate(request("bob", "pw"), noSignal), false);
    assert.equal(await provider.authenticate(request("bob", "no"), noSignal), false);
  });

  it("init fails with an error naming the file: missing, not YAML, plaintext, unknown key", async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ["missing.yaml", undefined, /cannot read: ENOENT/],
      ["broken.yaml", "users:\n  alice: [password: {\n", /not valid YAML or JSON \(line \d+, column \d+\)/],
      [
        "plain.yaml",
        "users:\n  alice:\n    password: hunter2-plain\n",
        /users\.alice\.password: not a password record; create one with "gatehouse hash-password"/,
      ],
      ["extra.yaml", "users: {}\nadmins: []\n", /admins/],
      ["empty.yaml", "", /users/],
    ];
    for (const [name, text, expected] of cases) {
      if (text !== undefined) await dir.write(name, text);
      const { provider } = wire({ users_file: name }, dir.path);
      await assert.rejects(provider.init!(), (error: unknown) => {
        assert.ok(error instanceof UsersFileError, String(error));
        assert.ok(error.message.startsWith(`users_file ${dir.path}/${name}: `), error.message);
        assert.match(error.message, expected);
        assert.doesNotMatch(error.message, /hunter2-plain/);
        return true;
      });
    }
  });

  it("a reload's new instance reads the changed file in init(); a broken file fails its init(), the old instance keeps its users", async () => {
    await dir.write("reload.yaml", `users:\n  alice:\n    password: "${await hashPassword("old", FAST)}"\n`);
    const { provider: old } = wire({ users_file: "reload.yaml" }, dir.path);
    await old.init?.();
    assert.notEqual(await old.authenticate(request("alice", "old"), noSignal), false);

    await dir.write(
      "reload.yaml",
      `users:\n  alice:\n    password: "${await hashPassword("new", FAST)}"\n  bob:\n    password: "${await hashPassword("b", FAST)}"\n`,
    );
    // What SIGHUP does: a new instance from the (same) config, then init().
    const { provider: fresh, logger } = wire({ users_file: "reload.yaml" }, dir.path);
    await fresh.init?.();
    assert.equal(await fresh.authenticate(request("alice", "old"), noSignal), false);
    assert.notEqual(await fresh.authenticate(request("alice", "new"), noSignal), false);
    assert.notEqual(await fresh.authenticate(request("bob", "b"), noSignal), false);
    assert.ok(logger.lines.some((line) => line.includes('"users":2')));
    // The running instance is not re-read behind the server's back.
    assert.notEqual(await old.authenticate(request("alice", "old"), noSignal), false);

    await dir.write("reload.yaml", "users:\n  alice:\n    password: plaintext\n");
    const { provider: broken } = wire({ users_file: "reload.yaml" }, dir.path);
    await assert.rejects(broken.init?.() ?? Promise.resolve(), UsersFileError);
    assert.notEqual(await fresh.authenticate(request("alice", "new"), noSignal), false);
  });
});
