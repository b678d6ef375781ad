import "reflect-metadata";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { noSignal, request, startPolicy } from "../helpers.js";

/** `loop` runs until the clock replaces its worker (the instruction budget is far out of reach); the rest answer at once. */
const SCRIPT = `
kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
  if username == 'loop' then while true do end end
  return username == 'alice'
end)
`;
const RUNAWAY = { workers: 1, call_timeout: 1500, instruction_limit: 1_000_000_000 };
/** The provider's bound on calls waiting for a worker. */
const MAX_QUEUE = 1024;

describe("calls waiting for a Lua worker (one worker)", () => {
  it("wait in arrival order; those queued behind a runaway call are answered by its replacement", async () => {
    const policy = await startPolicy(SCRIPT, RUNAWAY);
    try {
      const settled: string[] = [];
      const call = (username: string): Promise<unknown> =>
        policy.provider.authenticate(request(username, "pw"), noSignal).then(
          (result) => (settled.push(username), result),
          (error: unknown) => (settled.push(username), error),
        );
      const [runaway, alice, bob, carol] = await Promise.all(["loop", "alice", "bob", "carol"].map(call));
      assert.match((runaway as Error).message, /took longer than 1500 ms; worker replaced/);
      assert.deepEqual([alice, bob, carol], [true, false, false]);
      assert.deepEqual(settled, ["loop", "alice", "bob", "carol"]);
      assert.match(policy.logger.text(), /lua_worker_replaced/);
    } finally {
      await policy.close();
    }
  });

  it("an aborted waiter leaves the queue, a full queue refuses at once, close() fails what still waits", async () => {
    const policy = await startPolicy(SCRIPT, { ...RUNAWAY, call_timeout: 60_000 });
    let closed = false;
    try {
      const running = policy.provider.authenticate(request("loop", "pw"), noSignal);
      const controller = new AbortController();
      const aborted = policy.provider.authenticate(request("alice", "pw"), controller.signal);
      const waiting = Array.from({ length: MAX_QUEUE - 1 }, () =>
        policy.provider.authenticate(request("alice", "pw"), noSignal),
      );
      await assert.rejects(policy.provider.authenticate(request("alice", "pw"), noSignal), /too many queued Lua calls/);
      controller.abort(new Error("client left"));
      await assert.rejects(aborted, /client left/);
      // The aborted call gave its place back: one more fits, and the next is refused again.
      waiting.push(policy.provider.authenticate(request("alice", "pw"), noSignal));
      await assert.rejects(policy.provider.authenticate(request("alice", "pw"), noSignal), /too many queued Lua calls/);
      const outcomes = Promise.allSettled([running, ...waiting]);
      closed = true;
      await policy.close();
      const reasons = (await outcomes).map((outcome) =>
        outcome.status === "rejected" ? String(outcome.reason) : "answered",
      );
      assert.equal(reasons.length, MAX_QUEUE + 1);
      assert.deepEqual(new Set(reasons), new Set(["LuaCallError: the Lua provider is closed"]));
    } finally {
      if (!closed) await policy.close();
    }
  });
});
