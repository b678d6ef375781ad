// The `workers` shared state without processes: two SharedStateClients (two workers) talk to
// one SharedStateHost (the primary) through RpcPeers over in-memory channels that serialize
// like IPC. Limits and the throttle are exact across the clients, a dead worker's slots come
// back, and a primary that does not answer fails closed (on a simulated clock).
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import type { LimitSlot } from "@gatehouse-proxy/core/engine";
import { RespawnBackoff } from "../../dist/workers/backoff.js";
import { RpcError, RpcPeer } from "../../dist/workers/rpc.js";
import type { Endpoint, Envelope, Message } from "../../dist/workers/rpc.js";
import {
  SHARED_STATE_TIMEOUT_MS,
  SharedStateClient,
  SharedStateHost,
  memoryStores,
} from "../../dist/workers/shared-state.js";
import type { HostStores } from "../../dist/workers/shared-state.js";

/** Two ends of a channel: what one sends, the other receives a turn later, as a JSON copy. */
function channel(): [Endpoint, Endpoint] {
  const [a, b] = [new EventEmitter(), new EventEmitter()];
  const end = (self: EventEmitter, other: EventEmitter): Endpoint => ({
    send: (message: Envelope) => setImmediate(() => other.emit("message", JSON.parse(JSON.stringify(message)))),
    on: (event, listener) => self.on(event, listener),
    off: (event, listener) => self.off(event, listener),
  });
  return [end(a, b), end(b, a)];
}

const THROTTLE = { maxFailures: 3, windowMs: 60_000, blockMs: 60_000, maxTracked: 100, familiarMs: 86_400_000 };

/** A primary's host and `count` workers' clients, each on its own channel. */
function cluster(count: number, now: () => number = Date.now): { host: SharedStateHost; workers: SharedStateClient[] } {
  const host = new SharedStateHost(THROTTLE, now);
  const workers = Array.from({ length: count }, (_, index) => {
    const [workerEnd, primaryEnd] = channel();
    const worker = index + 1;
    new RpcPeer(primaryEnd, {
      request: (body: Message) => host.answer(worker, body),
      note: (body: Message) => void host.apply(body),
    });
    return new SharedStateClient(new RpcPeer(workerEnd, {}));
  });
  return { host, workers };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe("workers: the shared connection limits", () => {
  it("a per-identity limit of 3 holds exactly over concurrent acquisitions from two workers", async () => {
    const { host, workers } = cluster(2);
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, index) => workers[index % 2]!.tryAcquire("alice", "192.0.2.1", 3, 0)),
    );
    const slots = results.filter((result): result is LimitSlot => typeof result !== "string");
    assert.equal(slots.length, 3);
    assert.deepEqual(
      results.filter((result) => typeof result === "string"),
      Array(5).fill("max_connections_per_identity"),
    );
    assert.equal(host.count("identity", "alice"), 3);
    // Released by the worker that holds it: one more fits.
    workers[0]!.release(slots[0]!);
    await settle();
    assert.equal(host.count("identity", "alice"), 2);
    assert.equal(typeof (await workers[1]!.tryAcquire("alice", "192.0.2.9", 3, 0)), "object");
  });

  it("a per-IP limit counts every identity on every worker", async () => {
    const { workers } = cluster(2);
    const results = [];
    for (const user of ["a", "b", "c", "d"])
      results.push(await workers[results.length % 2]!.tryAcquire(user, "192.0.2.2", 0, 3));
    assert.deepEqual(
      results.map((result) => (typeof result === "string" ? result : "slot")),
      ["slot", "slot", "slot", "max_connections_per_ip"],
    );
  });

  it("no limit configured: no message at all, and nothing to give back", () => {
    const [workerEnd] = channel();
    let sent = 0;
    const counting: Endpoint = {
      ...workerEnd,
      send: () => {
        sent++;
      },
    };
    const client = new SharedStateClient(new RpcPeer(counting, {}));
    const slot = client.tryAcquire("alice", "192.0.2.3", 0, 0);
    assert.equal(slot instanceof Promise, false);
    client.release(slot as LimitSlot);
    // An identity limit does not apply to the no-auth method.
    assert.equal(client.tryAcquire(undefined, "192.0.2.3", 5, 0) instanceof Promise, false);
    assert.equal(sent, 0);
  });

  it("a worker that dies gives back every slot it held", async () => {
    const { host, workers } = cluster(2);
    await workers[0]!.tryAcquire("alice", "192.0.2.4", 3, 10);
    await workers[0]!.tryAcquire("alice", "192.0.2.4", 3, 10);
    await workers[1]!.tryAcquire("alice", "192.0.2.4", 3, 10);
    assert.equal(host.count("identity", "alice"), 3);
    host.forgetWorker(1);
    assert.equal(host.count("identity", "alice"), 1);
    assert.equal(host.count("ip", "192.0.2.4"), 1);
  });

  it("no answer from the primary within the deadline: the limit fails closed", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const silent: Endpoint = { send: () => undefined, on: () => undefined, off: () => undefined };
    const client = new SharedStateClient(new RpcPeer(silent, {}));
    const pending = client.tryAcquire("alice", "192.0.2.5", 3, 0);
    assert.ok(pending instanceof Promise);
    t.mock.timers.tick(SHARED_STATE_TIMEOUT_MS);
    assert.equal(await pending, "limit_store_unavailable");
  });
});

describe("workers: a host whose store answers later (state: redis)", () => {
  /** ConnectionLimits behind a gate: each answer waits until the test opens it. */
  function slowStores(): { stores: HostStores; open(): void; released: LimitSlot[] } {
    const memory = memoryStores(THROTTLE);
    const released: LimitSlot[] = [];
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    return {
      stores: {
        ...memory,
        limits: {
          tryAcquire: async (...args) => {
            await gate;
            return memory.limits.tryAcquire(...args);
          },
          release: (slot) => {
            released.push(slot);
            memory.limits.release(slot);
          },
        },
      },
      open: () => open(),
      released,
    };
  }

  it("answers once the store does, and the limit holds", async () => {
    const slow = slowStores();
    const host = new SharedStateHost(THROTTLE, Date.now, slow.stores);
    const first = host.answer(1, {
      type: "acquire",
      identity: "alice",
      ip: "192.0.2.7",
      maxPerIdentity: 1,
      maxPerIp: 0,
    });
    const second = host.answer(2, {
      type: "acquire",
      identity: "alice",
      ip: "192.0.2.8",
      maxPerIdentity: 1,
      maxPerIp: 0,
    });
    assert.ok(first instanceof Promise && second instanceof Promise);
    slow.open();
    const replies = await Promise.all([first, second]);
    assert.deepEqual(
      replies.map((reply) => ("exceeded" in reply ? reply.exceeded : "slot")),
      ["slot", "max_connections_per_identity"],
    );
  });

  it("a slot the store grants after its worker died is given back at once", async () => {
    const slow = slowStores();
    const host = new SharedStateHost(THROTTLE, Date.now, slow.stores);
    const late = host.answer(1, { type: "acquire", identity: "bob", ip: "192.0.2.9", maxPerIdentity: 1, maxPerIp: 0 });
    host.forgetWorker(1); // worker 1 exits while the store is still deciding
    slow.open();
    assert.deepEqual(await late, { exceeded: "limit_store_unavailable" });
    assert.equal(slow.released.length, 1, "the slot went back to the store");
    // The replacement worker (same number) gets bob's one slot.
    const next = await host.answer(1, {
      type: "acquire",
      identity: "bob",
      ip: "192.0.2.9",
      maxPerIdentity: 1,
      maxPerIp: 0,
    });
    assert.ok(next !== undefined && "slot" in next);
  });
});

describe("workers: the shared failure throttle", () => {
  it("failures recorded through one worker block the address on the other", async () => {
    let now = 1_000_000;
    const { workers } = cluster(2, () => now);
    for (let index = 0; index < 3; index++) workers[index % 2]!.recordFailure("bob", "192.0.2.6");
    await settle();
    assert.deepEqual(await workers[1]!.admit("bob", "192.0.2.6"), { throttledBy: "client_address" });
    assert.deepEqual(await workers[0]!.admit("bob", "192.0.2.6"), { throttledBy: "client_address" });
    // Another address may still try (and is not a suspect for bob).
    const other = await workers[0]!.admit("bob", "192.0.2.7");
    assert.equal(other.throttledBy, undefined);
    other.release();
    now += 60_001;
    assert.equal((await workers[1]!.admit("bob", "192.0.2.6")).throttledBy, undefined, "the block ran out");
  });

  it("while a username is blocked, a suspect address has one attempt in flight at most, across workers", async () => {
    const { workers } = cluster(2);
    // Three addresses fail once each for carol: the username is blocked; each is a suspect.
    for (const address of ["192.0.2.10", "192.0.2.11", "192.0.2.12"]) workers[0]!.recordFailure("carol", address);
    await settle();
    assert.deepEqual(await workers[0]!.admit("carol", "192.0.2.10"), { throttledBy: "username" });
    // A fresh address is not a suspect: it may try, once at a time, whichever worker it reaches.
    const first = await workers[0]!.admit("carol", "192.0.2.20");
    assert.equal(first.throttledBy, undefined);
    assert.deepEqual(await workers[1]!.admit("carol", "192.0.2.20"), { throttledBy: "username" }, "one in flight");
    first.release();
    await settle();
    const second = await workers[1]!.admit("carol", "192.0.2.20");
    assert.equal(second.throttledBy, undefined);
    second.release();
  });

  it("a login while nothing is blocked: one request, and no note to give a claim back", async () => {
    const host = new SharedStateHost(THROTTLE);
    const [workerEnd, primaryEnd] = channel();
    const sent: string[] = [];
    const counting: Endpoint = {
      ...workerEnd,
      send: (message, callback) => {
        sent.push(message.kind === "reply" ? "reply" : message.body.type);
        return workerEnd.send(message, callback);
      },
    };
    new RpcPeer(primaryEnd, {
      request: (body: Message) => host.answer(1, body),
      note: (body) => void host.apply(body),
    });
    const client = new SharedStateClient(new RpcPeer(counting, {}));
    const admission = await client.admit("erin", "192.0.2.50");
    assert.equal(admission.throttledBy, undefined);
    admission.release();
    client.recordSuccess("erin", "192.0.2.50");
    assert.deepEqual(sent, ["admit", "auth_success"]);
  });

  it("a dead worker's claims are given back", async () => {
    const { host, workers } = cluster(2);
    for (const address of ["192.0.2.30", "192.0.2.31", "192.0.2.32"]) workers[0]!.recordFailure("dave", address);
    await settle();
    const held = await workers[0]!.admit("dave", "192.0.2.40");
    assert.equal(held.throttledBy, undefined);
    host.forgetWorker(1);
    // Had the claim outlived worker 1, the address would now be refused as "in flight".
    const after = await workers[1]!.admit("dave", "192.0.2.40");
    assert.equal(after.throttledBy, undefined);
  });
});

describe("workers: the IPC peer", () => {
  it("a request nobody answers fails after its deadline; closed() fails the rest at once", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const silent: Endpoint = { send: () => undefined, on: () => undefined, off: () => undefined };
    const peer = new RpcPeer(silent, {});
    const late = peer.request({ type: "ready" }, 500);
    t.mock.timers.tick(500);
    await assert.rejects(
      late,
      (error: unknown) => error instanceof RpcError && /no answer to ready within 500 ms/.test(error.message),
    );
    const cut = peer.request({ type: "ready" }, 500);
    peer.closed("worker 2 exited");
    await assert.rejects(cut, /worker 2 exited/);
  });

  it("a handler's error comes back as the request's rejection", async () => {
    const [a, b] = channel();
    new RpcPeer(b, {
      request: () => {
        throw new Error("the worker is still starting");
      },
    });
    await assert.rejects(new RpcPeer(a, {}).request({ type: "metrics" }, 1000), /the worker is still starting/);
  });
});

describe("workers: the respawn back-off", () => {
  it("at once, then doubling while a worker keeps dying; at once again after it served 10 s", () => {
    const backoff = new RespawnBackoff();
    assert.deepEqual(
      Array.from({ length: 11 }, () => backoff.next(50)),
      [0, 250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
    assert.equal(backoff.next(10_000), 0);
    assert.equal(backoff.next(100), 250);
  });
});
