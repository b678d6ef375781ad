import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ListenerConfigError, ManualClock, parseHostPort } from "@gatehouse-proxy/core/engine";
import { TimerWheel } from "../../dist/util/timer-wheel.js";
import { abortReason, parseDuration, untilAborted } from "@gatehouse-proxy/core";
import { replyForDialError } from "../../dist/session/reply-codes.js";
import { resolveListenerOptions } from "../../dist/listener/options.js";
import type { WheelEntry } from "../../dist/util/timer-wheel.js";

describe("parseDuration", () => {
  it("reads numbers as milliseconds and unit strings", () => {
    assert.equal(parseDuration(250), 250);
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("60s"), 60_000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("2h"), 7_200_000);
  });

  it("says what it expected", () => {
    assert.throws(() => parseDuration("5 minutes"), /expected a duration such as 500ms, 60s or 5m/);
    assert.throws(() => parseDuration(-1), RangeError);
  });
});

describe("parseHostPort", () => {
  it("accepts IPv4, names and bracketed IPv6", () => {
    assert.deepEqual(parseHostPort("127.0.0.1:1080"), { host: "127.0.0.1", port: 1080 });
    assert.deepEqual(parseHostPort("[::1]:0"), { host: "::1", port: 0 });
    assert.deepEqual(parseHostPort("localhost:5000"), { host: "localhost", port: 5000 });
  });

  it("rejects what is not host:port", () => {
    for (const text of ["::1:1080", "1080", "host:", "host:70000", "[nothost]:1"]) {
      assert.equal(parseHostPort(text), undefined, text);
    }
  });
});

describe("resolveListenerOptions", () => {
  it("applies the documented defaults", () => {
    const resolved = resolveListenerOptions({ listen: "127.0.0.1:1080" }, "listeners[0]");
    assert.equal(resolved.requireAuth, false);
    assert.equal(resolved.stepTimeoutMs, 60_000);
    assert.equal(resolved.connectTimeoutMs, 10_000);
    assert.equal(resolved.idleTimeoutMs, 0);
    assert.equal(resolved.keepAliveMs, 300_000);
    assert.equal(resolved.tls, undefined);
  });

  it("reports every problem with its path", () => {
    try {
      resolveListenerOptions(
        { listen: "nowhere", timeout: "soon", max_connections: -1, colour: "blue" } as never,
        "listeners[2]",
      );
      assert.fail("expected a ListenerConfigError");
    } catch (error) {
      assert.ok(error instanceof ListenerConfigError);
      assert.deepEqual(
        error.problems.map((problem) => problem.split(":")[0]),
        ["listeners[2].listen", "listeners[2].timeout", "listeners[2].max_connections", "listeners[2].colour"],
      );
    }
  });
});

describe("replyForDialError", () => {
  it("maps errno codes to SOCKS replies", () => {
    const code = (errno: string) => replyForDialError(Object.assign(new Error(errno), { code: errno }));
    assert.equal(code("ECONNREFUSED"), 5);
    assert.equal(code("ENETUNREACH"), 3);
    assert.equal(code("EHOSTUNREACH"), 4);
    assert.equal(code("ENOTFOUND"), 4);
    assert.equal(code("EAI_AGAIN"), 4);
    assert.equal(code("ETIMEDOUT"), 6);
    assert.equal(code("EPIPE"), 1);
    assert.equal(replyForDialError(undefined), 1);
  });
});

describe("TimerWheel", () => {
  function entry(fired: number[], id: number): WheelEntry {
    return {
      wheelDueAt: 0,
      wheelSlot: -1,
      onWheelExpire() {
        fired.push(id);
      },
    };
  }

  it("fires due entries, not cancelled ones, and stops when empty (simulated time)", () => {
    const clock = new ManualClock();
    const wheel = new TimerWheel(10, 8, clock);
    const fired: number[] = [];
    const [a, b, c] = [entry(fired, 1), entry(fired, 2), entry(fired, 3)];
    wheel.schedule(a, clock.now() + 30);
    wheel.schedule(b, clock.now() + 30);
    wheel.schedule(c, clock.now() + 200); // more than one turn of an 8 × 10 ms wheel
    wheel.cancel(b);
    assert.equal(wheel.size, 2);
    assert.equal(clock.activeIntervals, 1, "one interval for every entry");
    clock.advance(29);
    assert.deepEqual(fired, [], "nothing fires before it is due");
    clock.advance(71);
    assert.deepEqual(fired, [1]);
    clock.advance(200);
    assert.deepEqual(fired, [1, 3]);
    assert.equal(wheel.size, 0);
    assert.equal(clock.activeIntervals, 0, "the wheel's interval stops when it is empty");
  });

  it("rescheduling moves an entry instead of adding it twice (simulated time)", () => {
    const clock = new ManualClock();
    const wheel = new TimerWheel(10, 8, clock);
    const fired: number[] = [];
    const a = entry(fired, 1);
    wheel.schedule(a, clock.now() + 20);
    wheel.schedule(a, clock.now() + 60);
    assert.equal(wheel.size, 1);
    clock.advance(40);
    assert.deepEqual(fired, []);
    clock.advance(60);
    assert.deepEqual(fired, [1]);
    wheel.stop();
  });

  it("an entry fires no earlier than due and at most two resolutions late, whatever the phase", () => {
    for (let phase = 0; phase < 100; phase += 7) {
      const clock = new ManualClock(1_000_000 + phase);
      const wheel = new TimerWheel(100, 512, clock);
      let firedAt = -1;
      const due = clock.now() + 300;
      wheel.schedule({ wheelDueAt: 0, wheelSlot: -1, onWheelExpire: (now) => (firedAt = now) }, due);
      clock.advance(299);
      assert.equal(firedAt, -1, `phase ${String(phase)}: fired early`);
      clock.advance(200);
      assert.ok(firedAt >= due && firedAt < due + 200, `phase ${String(phase)}: fired at due+${String(firedAt - due)}`);
    }
  });
});

describe("untilAborted", () => {
  it("settles with the promise, or rejects with the signal's reason as soon as it aborts", async () => {
    assert.equal(await untilAborted(Promise.resolve(7), AbortSignal.timeout(10_000)), 7);
    assert.equal(await untilAborted(Promise.resolve(8), undefined), 8);
    await assert.rejects(untilAborted(Promise.reject(new Error("backend")), new AbortController().signal), /backend/);

    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    const waiting = untilAborted(never, controller.signal);
    controller.abort(new Error("client left"));
    await assert.rejects(waiting, /client left/);

    const already = new AbortController();
    already.abort();
    await assert.rejects(untilAborted(Promise.reject(new Error("ignored")), already.signal), /aborted/);
    assert.equal(abortReason(already.signal).name, "AbortError");
  });
});
