// RevocationLog: each revocation applied once, whether heard on the channel or read from the
// recent log after a reconnection, and the Redis time up to which everything was heard.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RevocationLog } from "../../dist/state/revocation-log.js";

const message = (identity: string, at: number): string => JSON.stringify({ identity, at });

describe("RevocationLog", () => {
  it("starts at the first subscription only, then advances with what it hears", () => {
    const log = new RevocationLog();
    assert.equal(log.heardUpTo, undefined);
    log.start(1000);
    log.start(5000);
    assert.equal(log.heardUpTo, 1000, "a later subscription does not skip what was missed");
    assert.equal(log.accept(message("alice", 1200)), "alice");
    assert.equal(log.heardUpTo, 1200);
    assert.equal(log.accept(message("bob", 1100)), "bob", "an older one not heard before is applied");
    assert.equal(log.heardUpTo, 1200);
  });

  it("applies a message once: heard on the channel and read again from the recent log", () => {
    const log = new RevocationLog();
    log.start(0);
    const heard = message("alice", 10);
    assert.equal(log.accept(heard), "alice");
    assert.equal(log.accept(heard), undefined);
    assert.equal(log.accept(message("alice", 11)), "alice", "a new revocation of the same identity");
  });

  it("ignores what is not a revocation; accepts one without a time (published by an older version)", () => {
    const log = new RevocationLog();
    for (const bad of ["not json", "{}", JSON.stringify({ identity: "" }), JSON.stringify({ identity: 7 }), "null"]) {
      assert.equal(log.accept(bad), undefined, bad);
    }
    assert.equal(log.accept(JSON.stringify({ identity: "carol" })), "carol");
    assert.equal(log.heardUpTo, undefined);
  });
});
