import "reflect-metadata";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { AuthInfo } from "@gatehouse-proxy/core";
import { SERVICE_PASSWORD, addGroup, addPosixUser, seedLayout } from "../helpers/directory.js";
import { Slapd } from "../helpers/slapd.js";
import { lastDenyReason, request, signal, wire } from "../helpers/wire.js";

const LONG_PASSWORD = "p".repeat(200) + "()*\\$&` ;#".repeat(5) + "z".repeat(5);
const SPECIAL_PASSWORD = " ()*\\$& spaced\t$` ";

describe("auth-ldap against a real slapd (OpenLDAP: uid, groupOfNames, memberOf)", () => {
  let slapd: Slapd;
  let serviceDn: string;
  const dns: Record<string, string> = {};

  before(async () => {
    slapd = await Slapd.start();
    serviceDn = await seedLayout(slapd);
    await slapd.asAdmin(async (client) => {
      const suffix = slapd.suffix;
      const users = [
        { name: "alice", password: "alice-secret" },
        { name: "bob", password: "bob-secret", mail: "bob@example.com" },
        { name: "carol", password: SPECIAL_PASSWORD },
        { name: "dave", password: LONG_PASSWORD },
        { name: "alice,ou=x", password: "comma-secret" },
        { name: "#alice", password: "hash-secret" },
        { name: "twin1", password: "twin-secret", mail: "twin@example.com" },
        { name: "twin2", password: "twin-secret", mail: "twin@example.com" },
      ];
      for (const user of users) dns[user.name] = await addPosixUser(client, suffix, user);
      // alice ∈ engineers ⊂ staff ⊂ everyone; loop-a ⇄ loop-b is a cycle alice enters.
      const engineers = await addGroup(client, suffix, "engineers", [dns["alice"]!]);
      await addGroup(client, suffix, "proxy-users", [dns["alice"]!, dns["bob"]!]);
      const staff = await addGroup(client, suffix, "staff", [engineers]);
      await addGroup(client, suffix, "everyone", [staff]);
      const loopB = await addGroup(client, suffix, "loop-b", [dns["bob"]!]);
      const loopA = await addGroup(client, suffix, "loop-a", [dns["alice"]!, loopB]);
      const { Attribute, Change } = await import("ldapts");
      await client.modify(
        loopB,
        new Change({ operation: "add", modification: new Attribute({ type: "member", values: [loopA] }) }),
      );
    });
  });
  after(async () => slapd.destroy());

  const base = (): Record<string, unknown> => ({
    url: slapd.url,
    insecure: true,
    bind_dn: serviceDn,
    bind_password: SERVICE_PASSWORD,
    user_base: `ou=people,${slapd.suffix}`,
    timeout: "3s",
    connect_timeout: "2s",
  });

  it("search-then-bind: the right password gives the stored uid and the memberOf groups", async () => {
    const { provider, logger } = wire(base());
    await provider.init?.();
    try {
      const result = (await provider.authenticate(request("ALICE", "alice-secret"), signal())) as AuthInfo;
      assert.deepEqual(result.identities, [{ identity: "alice", context: "ProxyAuthRfc1929" }]);
      assert.deepEqual([...(result.groups ?? [])].sort(), ["engineers", "loop-a", "proxy-users"]);
      assert.ok(logger.events("ldap_ready").length === 1);
      assert.equal(
        logger.lines.some((line) => line.includes("alice-secret") || line.includes(SERVICE_PASSWORD)),
        false,
      );
    } finally {
      await provider.close?.();
    }
  });

  it("wrong password and unknown user deny (false) with a precise reason", async () => {
    const { provider, logger } = wire(base());
    try {
      assert.equal(await provider.authenticate(request("alice", "wrong"), signal()), false);
      assert.equal(lastDenyReason(logger), "invalid_credentials");
      assert.equal(await provider.authenticate(request("nobody", "alice-secret"), signal()), false);
      assert.equal(lastDenyReason(logger), "user_not_found");
      assert.equal(
        logger.lines.some((line) => line.includes("wrong") || line.includes("alice-secret")),
        false,
      );
    } finally {
      await provider.close?.();
    }
  });

  it("an empty password is denied before any bind is sent", async () => {
    // One service connection, bound by init(), so the only later bind is the user's.
    const { provider, logger } = wire({ ...base(), pool_size: 1 });
    try {
      await provider.init?.();
      const before = await slapd.loggedBinds();
      assert.equal(await provider.authenticate(request("alice", ""), signal()), false);
      assert.equal(lastDenyReason(logger), "empty_password");
      assert.equal(await slapd.loggedBinds(), before, "no BIND reached slapd");
      // The counter does see binds: a wrong password costs exactly one user bind.
      assert.equal(await provider.authenticate(request("alice", "nope"), signal()), false);
      assert.equal(await slapd.loggedBinds(), before + 1);
    } finally {
      await provider.close?.();
    }
  });

  it("injection usernames match nothing and deny", async () => {
    const { provider, logger } = wire({ ...base(), user_filter: "(|(uid={username})(mail={username}))" });
    try {
      for (const username of ["*", "*)(uid=*", "admin)(|(uid=*", "\\", "$&", "$`", "$'", "al*", "alice)(", "\0"]) {
        assert.equal(await provider.authenticate(request(username, "alice-secret"), signal()), false, username);
        assert.equal(lastDenyReason(logger), "user_not_found", username);
      }
      // The OR filter works for real values, escaped once: bob by mail, reported by his uid
      // (the filter's first attribute compared with {username}).
      const bob = (await provider.authenticate(request("bob@example.com", "bob-secret"), signal())) as AuthInfo;
      assert.equal(bob.identities[0]?.identity, "bob");
    } finally {
      await provider.close?.();
    }
  });

  it("a filter matching two entries is an error, not a login", async () => {
    const { provider } = wire({ ...base(), user_filter: "(mail={username})" });
    try {
      await assert.rejects(
        provider.authenticate(request("twin@example.com", "twin-secret"), signal()),
        /more than one entry/,
      );
    } finally {
      await provider.close?.();
    }
  });

  it("passwords with ()*\\$&, spaces and 255 bytes succeed byte-exact and fail when altered", async () => {
    assert.equal(Buffer.byteLength(LONG_PASSWORD), 255);
    const { provider } = wire(base());
    try {
      assert.notEqual(await provider.authenticate(request("carol", SPECIAL_PASSWORD), signal()), false);
      assert.equal(await provider.authenticate(request("carol", SPECIAL_PASSWORD.trim()), signal()), false);
      assert.notEqual(await provider.authenticate(request("dave", LONG_PASSWORD), signal()), false);
      assert.equal(await provider.authenticate(request("dave", LONG_PASSWORD.slice(0, 254)), signal()), false);
    } finally {
      await provider.close?.();
    }
  });

  it("user_dn_template escapes the username per RFC 4514 (no other subtree is reachable)", async () => {
    const { provider, logger } = wire({
      url: slapd.url,
      insecure: true,
      user_dn_template: `uid={username},ou=people,${slapd.suffix}`,
    });
    try {
      const cases: [string, string][] = [
        ["alice,ou=x", "comma-secret"],
        ["#alice", "hash-secret"],
        ["alice", "alice-secret"],
      ];
      for (const [username, password] of cases) {
        const result = (await provider.authenticate(request(username, password), signal())) as AuthInfo;
        assert.equal(result.identities[0]?.identity, username, username);
        // Each name binds its own entry: alice's password does not open the look-alikes.
        if (username !== "alice")
          assert.equal(await provider.authenticate(request(username, "alice-secret"), signal()), false);
      }
      // uid matching ignores surrounding spaces, so an escaped " alice" is alice's own entry
      // (reported as stored), never a syntax error or another entry.
      const spaced = (await provider.authenticate(request(" alice", "alice-secret"), signal())) as AuthInfo;
      assert.equal(spaced.identities[0]?.identity, "alice");
      // Without escaping this would be the DN uid=x,ou=services,... (the service account).
      assert.equal(await provider.authenticate(request(`x,ou=services`, SERVICE_PASSWORD), signal()), false);
      assert.equal(lastDenyReason(logger), "invalid_credentials");
      const own = (await provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.deepEqual([...(own.groups ?? [])].sort(), ["engineers", "loop-a", "proxy-users"]);
    } finally {
      await provider.close?.();
    }
  });

  it("nested groups follow memberOf to the depth limit and stop at cycles", async () => {
    const deep = wire({ ...base(), nested_groups: true, max_group_depth: 5 });
    const shallow = wire({ ...base(), nested_groups: true, max_group_depth: 2 });
    try {
      const all = (await deep.provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.deepEqual([...(all.groups ?? [])].sort(), [
        "engineers",
        "everyone",
        "loop-a",
        "loop-b",
        "proxy-users",
        "staff",
      ]);
      const two = (await shallow.provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.deepEqual([...(two.groups ?? [])].sort(), ["engineers", "loop-a", "loop-b", "proxy-users", "staff"]);
    } finally {
      await deep.provider.close?.();
      await shallow.provider.close?.();
    }
  });

  it("group search (group_base/group_filter) with nesting gives the same groups", async () => {
    const { provider } = wire({ ...base(), group_base: `ou=groups,${slapd.suffix}`, nested_groups: true });
    try {
      const all = (await provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.deepEqual([...(all.groups ?? [])].sort(), [
        "engineers",
        "everyone",
        "loop-a",
        "loop-b",
        "proxy-users",
        "staff",
      ]);
    } finally {
      await provider.close?.();
    }
  });

  it("required_groups denies non-members; group_map renames", async () => {
    const { provider, logger } = wire({
      ...base(),
      required_groups: ["Engineers"],
      group_map: { engineers: "eng", "proxy-users": ["proxy", "users"] },
      unmapped_groups: "drop",
    });
    try {
      const alice = (await provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.deepEqual([...(alice.groups ?? [])].sort(), ["eng", "proxy", "users"]);
      assert.equal(await provider.authenticate(request("bob", "bob-secret"), signal()), false);
      assert.equal(lastDenyReason(logger), "not_in_required_group");
    } finally {
      await provider.close?.();
    }
  });

  it("identity_attribute picks what is reported", async () => {
    const { provider } = wire({ ...base(), identity_attribute: "mail" });
    try {
      const bob = (await provider.authenticate(request("bob", "bob-secret"), signal())) as AuthInfo;
      assert.equal(bob.identities[0]?.identity, "bob@example.com");
      // alice has no mail: a configured identity attribute that is missing fails closed.
      await assert.rejects(provider.authenticate(request("alice", "alice-secret"), signal()), /has no mail/);
    } finally {
      await provider.close?.();
    }
  });

  it("100 concurrent logins of different users never mix identities", async () => {
    await slapd.asAdmin(async (client) => {
      for (let index = 0; index < 100; index++) {
        await addPosixUser(client, slapd.suffix, { name: `load${String(index)}`, password: `pw-${String(index)}` });
      }
    });
    const { provider } = wire(base());
    try {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, index) =>
          provider.authenticate(request(`load${String(index)}`, `pw-${String(index)}`), signal(60_000)),
        ),
      );
      results.forEach((result, index) => {
        assert.equal((result as AuthInfo).identities[0]?.identity, `load${String(index)}`);
      });
      const crossed = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          provider.authenticate(request(`load${String(index)}`, `pw-${String(index + 1)}`), signal(60_000)),
        ),
      );
      assert.ok(crossed.every((result) => result === false));
    } finally {
      await provider.close?.();
    }
  });

  it("init fails on a wrong service password; health proves the service bind", async () => {
    const wrong = wire({ ...base(), bind_password: "not-the-password" });
    await assert.rejects(wrong.provider.init?.() ?? Promise.resolve(), (error: Error) => {
      assert.match(error.message, /service bind/);
      assert.doesNotMatch(error.message, /not-the-password/);
      return true;
    });
    await assert.rejects(wrong.provider.authenticate(request("alice", "alice-secret"), signal()), /service bind/);
    await wrong.provider.close?.();
    const right = wire(base());
    try {
      await right.provider.init?.();
      await right.provider.health?.(signal());
    } finally {
      await right.provider.close?.();
    }
  });

  it("bind_password_file is read relative to the config folder", async () => {
    await writeFile(join(slapd.dir, "service.pw"), `${SERVICE_PASSWORD}\n`);
    const config: Record<string, unknown> = { ...base(), bind_password_file: "service.pw" };
    delete config["bind_password"];
    const { provider } = wire(config, slapd.dir);
    try {
      await provider.init?.();
      assert.notEqual(await provider.authenticate(request("bob", "bob-secret"), signal()), false);
    } finally {
      await provider.close?.();
    }
  });

  it("a user_base that does not exist is an error (noSuchObject), not a deny", async () => {
    const { provider } = wire({ ...base(), user_base: `ou=nowhere,${slapd.suffix}` });
    try {
      await assert.rejects(provider.authenticate(request("alice", "alice-secret"), signal()), (error: Error) => {
        assert.equal((error as Error & { code?: string }).code, "no_such_base");
        return true;
      });
      await assert.rejects(provider.health?.(signal()) ?? Promise.resolve(), /no such object/);
    } finally {
      await provider.close?.();
    }
  });
});
