import "reflect-metadata";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { z } from "@gatehouse-proxy/core";
import plugin from "@gatehouse-proxy/auth-static";
import { FAST } from "../fixtures.js";
import { hashPassword } from "@gatehouse-proxy/core";

function problems(raw: unknown): string[] {
  const result = plugin.configSchema.safeParse(raw);
  assert.equal(result.success, false, "expected the config to be refused");
  return (result.error as z.ZodError).issues.map((issue) => `${issue.path.map(String).join(".")}: ${issue.message}`);
}

describe("auth-static config schema", () => {
  it("is a Gatehouse plugin definition", () => {
    assert.equal(plugin.name, "@gatehouse-proxy/auth-static");
    assert.equal(plugin.gatehouse, "^0.1");
  });

  it("accepts users inline with records, groups and identity", async () => {
    const record = await hashPassword("pw", FAST);
    const config = plugin.configSchema.parse({
      users: { alice: { password: record, groups: ["g"], identity: "alice@example.com" }, bob: { password: record } },
    });
    assert.deepEqual(Object.keys(config.users ?? {}), ["alice", "bob"]);
    assert.ok(plugin.configSchema.safeParse({ users_file: "users.yaml" }).success);
  });

  it("refuses a plaintext password, pointing at gatehouse hash-password, without quoting it", () => {
    const found = problems({ users: { alice: { password: "secretpassword" } } });
    assert.deepEqual(found, ['users.alice.password: not a password record; create one with "gatehouse hash-password"']);
    assert.ok(!found.join("\n").includes("secretpassword"));
  });

  it("refuses malformed, unknown-algorithm and absurd-cost records", () => {
    const found = problems({
      users: {
        a: { password: "$scrypt$ln=15,r=8$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA" },
        b: { password: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA" },
        c: { password: "$scrypt$ln=20,r=32,p=16$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g" },
      },
    });
    assert.equal(found.length, 3);
    assert.match(found[0]!, /^users\.a\.password: malformed scrypt record/);
    assert.match(found[1]!, /^users\.b\.password: unknown password algorithm/);
    assert.match(found[2]!, /^users\.c\.password: scrypt ln=20,r=32,p=16 needs more than 256 MiB/);
    for (const line of found) assert.match(line, /gatehouse hash-password/);
  });

  it("refuses users and users_file together, and neither", () => {
    assert.deepEqual(problems({ users: {}, users_file: "u.yaml" }), [": set either users or users_file, not both"]);
    assert.deepEqual(problems({}), [": set users or users_file"]);
  });

  it("refuses unknown keys at every level", async () => {
    const record = await hashPassword("pw", FAST);
    assert.match(problems({ users: {}, extra: 1 }).join("\n"), /extra/);
    assert.match(
      problems({ users: { alice: { password: record, group: ["typo"] } } }).join("\n"),
      /users\.alice.*group/,
    );
  });

  it("refuses wrong types, empty and over-long usernames", async () => {
    const record = await hashPassword("pw", FAST);
    assert.match(
      problems({ users: { alice: { password: record, groups: "admins" } } }).join("\n"),
      /users\.alice\.groups/,
    );
    assert.match(
      problems({ users: { "": { password: record } } }).join("\n"),
      /^users\.: usernames are 1\.\.255 bytes/,
    );
    assert.match(problems({ users: { ["x".repeat(256)]: { password: record } } }).join("\n"), /255 bytes/);
    assert.match(problems({ users_file: 7 }).join("\n"), /users_file/);
  });
});
