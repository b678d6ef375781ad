import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import fc from "fast-check";
import { Semaphore, SemaphoreQueueFullError } from "@gatehouse-proxy/core";
import type { Release } from "@gatehouse-proxy/core";

/** Lets every settled promise's callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Acquires, and records in `granted` the order in which the permits arrive. */
function track(sem: Semaphore, name: string, granted: string[], signal?: AbortSignal): Promise<Release> {
  return sem.acquire(signal).then((release) => {
    granted.push(name);
    return release;
  });
}

describe("Semaphore", () => {
  it("grants up to `permits` at once, then hands freed permits over first in, first out", async () => {
    const sem = new Semaphore(2);
    const granted: string[] = [];
    const a = await track(sem, "a", granted);
    const b = await track(sem, "b", granted);
    const waiters = ["c", "d", "e", "f"].map((name) => track(sem, name, granted));
    await settle();
    assert.deepEqual([sem.active, sem.queued], [2, 4]);
    assert.deepEqual(granted, ["a", "b"]);
    b();
    a();
    await settle();
    assert.deepEqual(granted, ["a", "b", "c", "d"]);
    assert.deepEqual([sem.active, sem.queued], [2, 2]);
    for (const waiter of waiters) (await waiter)();
    assert.deepEqual(granted, ["a", "b", "c", "d", "e", "f"]);
    assert.deepEqual([sem.active, sem.queued, sem.peakActive], [0, 0, 2]);
  });

  it("run() holds a permit for the work and gives it back when the work fails", async () => {
    const sem = new Semaphore(3);
    let running = 0;
    let most = 0;
    const work = (id: number) => async (): Promise<number> => {
      most = Math.max(most, ++running);
      await settle();
      running--;
      return id;
    };
    const ids = Array.from({ length: 10 }, (_, i) => i);
    assert.deepEqual(await Promise.all(ids.map((id) => sem.run(work(id)))), ids);
    assert.equal(most, 3);
    await assert.rejects(
      sem.run(() => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(sem.active, 0);
  });

  it("a waiter whose signal aborts leaves the queue with the abort reason, and no permit leaks", async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const controller = new AbortController();
    const granted: string[] = [];
    const aborted = track(sem, "aborted", granted, controller.signal);
    const next = track(sem, "next", granted);
    controller.abort(new Error("deadline passed"));
    await assert.rejects(aborted, /deadline passed/);
    assert.deepEqual([sem.active, sem.queued], [1, 1]);
    held();
    (await next)();
    assert.deepEqual(granted, ["next"]);
    assert.deepEqual([sem.active, sem.queued], [0, 0]);
  });

  it("an already aborted signal never takes a permit; a reason that is no Error becomes Error('aborted')", async () => {
    const sem = new Semaphore(1);
    await assert.rejects(sem.acquire(AbortSignal.abort(new Error("gone"))), /gone/);
    const held = await sem.acquire();
    const controller = new AbortController();
    const waiting = sem.acquire(controller.signal);
    controller.abort("not an error");
    await assert.rejects(waiting, (error: Error) => error.message === "aborted");
    held();
    assert.equal(sem.active, 0);
  });

  it("an abort after the permit was granted does nothing: the holder keeps it until it releases", async () => {
    const sem = new Semaphore(1);
    const controller = new AbortController();
    const held = await sem.acquire(controller.signal);
    const granted: string[] = [];
    const next = track(sem, "next", granted);
    controller.abort(new Error("late"));
    await settle();
    assert.deepEqual(granted, []);
    assert.deepEqual([sem.active, sem.queued], [1, 1]);
    held();
    (await next)();
    assert.equal(sem.active, 0);
  });

  it("a waiter that got its permit leaves nothing listening on its signal", async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const controller = new AbortController();
    const waiting = sem.acquire(controller.signal);
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    held();
    (await waiting)();
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });

  it("refuses a waiter beyond maxQueue at once; a permit that is free is still granted", async () => {
    const sem = new Semaphore(1, { maxQueue: 1 });
    const held = await sem.acquire();
    const waiting = sem.acquire();
    await assert.rejects(sem.acquire(), SemaphoreQueueFullError);
    assert.deepEqual([sem.active, sem.queued], [1, 1]);
    held();
    const second = await waiting;
    const third = sem.acquire();
    await assert.rejects(sem.acquire(), /1 callers already wait/);
    second();
    (await third)();
    assert.deepEqual([sem.active, sem.queued], [0, 0]);
    const noQueue = new Semaphore(1, { maxQueue: 0 });
    const only = await noQueue.acquire();
    await assert.rejects(noQueue.acquire(), SemaphoreQueueFullError);
    only();
    (await noQueue.acquire())();
    assert.equal(noQueue.active, 0);
  });

  it("a second release of the same permit does nothing", async () => {
    const sem = new Semaphore(2);
    const a = await sem.acquire();
    const b = await sem.acquire();
    const granted: string[] = [];
    const c = track(sem, "c", granted);
    const d = track(sem, "d", granted);
    a();
    a();
    a();
    await settle();
    assert.deepEqual(granted, ["c"], "one release hands over one permit");
    assert.deepEqual([sem.active, sem.queued], [2, 1]);
    b();
    (await c)();
    (await d)();
    b();
    assert.equal(sem.active, 0);
  });

  it("close() rejects the waiters and later callers; permits already held still release", async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const waiting = sem.acquire();
    sem.close(new Error("closed"));
    await assert.rejects(waiting, /closed/);
    await assert.rejects(sem.acquire(), /closed/);
    assert.deepEqual([sem.active, sem.queued], [1, 0]);
    held();
    assert.equal(sem.active, 0);
  });

  it("refuses a size that is not a positive integer or a negative queue bound", () => {
    assert.throws(() => new Semaphore(0), RangeError);
    assert.throws(() => new Semaphore(1.5), RangeError);
    assert.throws(() => new Semaphore(1, { maxQueue: -1 }), RangeError);
  });
});

type Command =
  | { readonly kind: "acquire"; readonly preAborted: boolean }
  | { readonly kind: "abort"; readonly pick: number }
  | { readonly kind: "release"; readonly pick: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant("acquire" as const), preAborted: fc.boolean() }),
  fc.record({ kind: fc.constant("abort" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
);

describe("Semaphore under random acquire / abort / release (fast-check)", () => {
  it("matches a plain model: FIFO grants, never more than `permits`, no permit lost or made", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(Infinity)),
        fc.array(command, { maxLength: 60 }),
        async (permits, maxQueue, commands) => {
          const sem = new Semaphore(permits, { maxQueue });
          const callers: { controller: AbortController; release?: Release; outcome: string }[] = [];
          const granted: number[] = [];
          // The model: who holds a permit, who waits (in order), and the order of grants.
          const holders = new Set<number>();
          const queue: number[] = [];
          const modelGranted: number[] = [];
          const grantNext = (): void => {
            const next = queue.shift();
            if (next === undefined) return;
            holders.add(next);
            modelGranted.push(next);
          };

          for (const step of commands) {
            if (step.kind === "acquire") {
              const id = callers.length;
              const controller = new AbortController();
              if (step.preAborted) controller.abort(new Error(`abort ${String(id)}`));
              const caller: (typeof callers)[number] = { controller, outcome: "waiting" };
              callers.push(caller);
              sem.acquire(controller.signal).then(
                (release) => {
                  caller.release = release;
                  caller.outcome = "granted";
                  granted.push(id);
                },
                (error: unknown) => {
                  caller.outcome = error instanceof SemaphoreQueueFullError ? "full" : (error as Error).message;
                },
              );
              if (step.preAborted) continue;
              if (holders.size < permits) {
                holders.add(id);
                modelGranted.push(id);
              } else if (queue.length < maxQueue) queue.push(id);
            } else if (callers.length > 0) {
              const id = step.pick % callers.length;
              const caller = callers[id]!;
              if (step.kind === "abort") {
                caller.controller.abort(new Error(`abort ${String(id)}`));
                const at = queue.indexOf(id);
                if (at >= 0) queue.splice(at, 1);
              } else if (caller.release !== undefined) {
                caller.release();
                if (holders.delete(id)) grantNext();
              }
            }
            await settle();
            assert.deepEqual(granted, modelGranted, "grants in the model's order");
            assert.equal(sem.active, holders.size);
            assert.equal(sem.queued, queue.length);
            assert.ok(sem.active <= permits);
          }

          for (const id of queue) callers[id]!.controller.abort(new Error("end"));
          for (const caller of callers) caller.release?.();
          await settle();
          assert.equal(sem.active, 0, "every permit came back");
          assert.equal(sem.queued, 0);
          for (const [id, caller] of callers.entries()) {
            if (modelGranted.includes(id)) assert.equal(caller.outcome, "granted");
            else assert.notEqual(caller.outcome, "waiting", `caller ${String(id)} settled`);
          }
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });
});
