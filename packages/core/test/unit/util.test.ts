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

describe("resolveListenerOptions: udp", () => {
  it("off unless enabled; defaults: the listener's address, any port, 5m idle, 64 in flight", () => {
    assert.equal(resolveListenerOptions({ listen: "127.0.0.1:1080" }, "l").udp, undefined);
    assert.equal(resolveListenerOptions({ listen: "127.0.0.1:1080", udp: { enabled: false } }, "l").udp, undefined);
    assert.deepEqual(resolveListenerOptions({ listen: "[::1]:1080", udp: { enabled: true } }, "l").udp, {
      address: "::1",
      portLow: 0,
      portHigh: 0,
      idleTimeoutMs: 300_000,
      maxInFlight: 64,
    });
    const given = resolveListenerOptions(
      {
        listen: "0.0.0.0:1080",
        udp: { enabled: true, address: "192.0.2.7", ports: "40000-40999", idle_timeout: false, max_in_flight: 8 },
      },
      "l",
    ).udp;
    assert.deepEqual(given, {
      address: "192.0.2.7",
      portLow: 40000,
      portHigh: 40999,
      idleTimeoutMs: 0,
      maxInFlight: 8,
    });
    assert.deepEqual(
      resolveListenerOptions({ listen: "127.0.0.1:1080", udp: { enabled: true, ports: "5353" } }, "l").udp,
      {
        address: "127.0.0.1",
        portLow: 5353,
        portHigh: 5353,
        idleTimeoutMs: 300_000,
        maxInFlight: 64,
      },
    );
  });

  it("names every bad udp value with its path: a range that is not one, a host name, a listener named by host", () => {
    const problems = (udp: unknown, listen = "127.0.0.1:1080"): string[] => {
      try {
        resolveListenerOptions({ listen, udp } as never, "listeners[1]");
        return [];
      } catch (error) {
        assert.ok(error instanceof ListenerConfigError);
        return [...error.problems];
      }
    };
    assert.deepEqual(problems({ enabled: true, ports: "40999-40000" }), [
      'listeners[1].udp.ports: the range\'s first port is above its last: "40999-40000"',
    ]);
    assert.deepEqual(problems({ enabled: true, ports: "40000:40999" }), [
      'listeners[1].udp.ports: expected a port range such as "40000-40999" (or one port), got "40000:40999"',
    ]);
    assert.deepEqual(problems({ enabled: true, ports: "0-10" }), [
      'listeners[1].udp.ports: ports must be 1 to 65535, got "0-10"',
    ]);
    assert.deepEqual(problems({ enabled: true, address: "relay.example" }), [
      'listeners[1].udp.address: expected an IP address such as 127.0.0.1 or ::1, got "relay.example"',
    ]);
    assert.deepEqual(problems({ enabled: true }, "localhost:1080"), [
      "listeners[1].udp.address: required when listen names a host (localhost): the relay binds to an IP address",
    ]);
    assert.deepEqual(problems({ ports: "1-2" }), ["listeners[1].udp.enabled: required (true serves UDP ASSOCIATE)"]);
    assert.deepEqual(
      problems({ enabled: true, max_in_flight: 0, idle_timeout: "soon", colour: 1 }).map((line) => line.split(":")[0]),
      ["listeners[1].udp.idle_timeout", "listeners[1].udp.max_in_flight", "listeners[1].udp.colour"],
    );
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
