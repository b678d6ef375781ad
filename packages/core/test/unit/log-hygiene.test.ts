import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HandshakeFailureSummary } from "../../dist/session/handshake-failures.js";
import { createJsonLogger, escapeJsonLine, escapeNonPrintable } from "@gatehouse-proxy/core/engine";

/** A scheduler the test ticks by hand: a simulated clock for the summary's interval. */
function manualScheduler(): { schedule: (tick: () => void, ms: number) => () => void; tick(): void; active(): number } {
  const ticks = new Set<() => void>();
  return {
    schedule(tick) {
      ticks.add(tick);
      return () => ticks.delete(tick);
    },
    tick() {
      for (const tick of ticks) tick();
    },
    active: () => ticks.size,
  };
}

function recordingLogger(): { logger: ReturnType<typeof createJsonLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: createJsonLogger("info", (line) => lines.push(JSON.parse(line) as Record<string, unknown>)), lines };
}

describe("HandshakeFailureSummary", () => {
  it("one info line per interval with counts by reason, none for a quiet interval", () => {
    const clock = manualScheduler();
    const { logger, lines } = recordingLogger();
    const summary = new HandshakeFailureSummary(logger, 10_000, clock.schedule);
    summary.start();
    for (let i = 0; i < 5; i++) summary.record("protocol_error:bad_version");
    summary.record("auth_required");
    summary.record("auth_required");
    assert.equal(lines.length, 0, "nothing before the interval ends");
    clock.tick();
    assert.equal(lines.length, 1);
    assert.deepEqual(
      { event: lines[0]!.event, total: lines[0]!.total, reasons: lines[0]!.reasons, interval: lines[0]!.interval_ms },
      {
        event: "handshake_failures",
        total: 7,
        reasons: { "protocol_error:bad_version": 5, auth_required: 2 },
        interval: 10_000,
      },
    );
    clock.tick();
    clock.tick();
    assert.equal(lines.length, 1, "a quiet interval writes nothing");
    summary.record("step_timeout");
    clock.tick();
    assert.deepEqual(lines[1]!.reasons, { step_timeout: 1 }, "each line counts its own interval");
  });

  it("stop() cancels the timer and writes what was left", () => {
    const clock = manualScheduler();
    const { logger, lines } = recordingLogger();
    const summary = new HandshakeFailureSummary(logger, 1000, clock.schedule);
    summary.start();
    summary.start();
    assert.equal(clock.active(), 1, "start twice, one timer");
    summary.record("client_closed_during_handshake");
    summary.stop();
    assert.equal(clock.active(), 0);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.total, 1);
  });

  it("at most 64 distinct reasons per line; the rest are counted as other", () => {
    const { logger, lines } = recordingLogger();
    const summary = new HandshakeFailureSummary(logger, 1000, manualScheduler().schedule);
    for (let i = 0; i < 100; i++) summary.record(`reason_${String(i)}`);
    summary.flush();
    const reasons = lines[0]!.reasons as Record<string, number>;
    assert.equal(Object.keys(reasons).length, 65);
    assert.equal(reasons.other, 36);
    assert.equal(lines[0]!.total, 100);
  });
});

describe("escaping for logs", () => {
  it("escapeNonPrintable: controls, C1, separators, bidi and lone surrogates; printable text untouched", () => {
    assert.equal(escapeNonPrintable("alice"), "alice");
    assert.equal(escapeNonPrintable("Müller 日本 👍"), "Müller 日本 👍");
    assert.equal(escapeNonPrintable("a\nb\r\tc"), "a\\nb\\r\\tc");
    assert.equal(escapeNonPrintable("\u001b[2J\u007f\u0085"), "\\u001b[2J\\u007f\\u0085");
    assert.equal(escapeNonPrintable("x\u2028y\u202ez\ufeff"), "x\\u2028y\\u202ez\\ufeff");
    assert.equal(escapeNonPrintable("\ud800!\udc00"), "\\ud800!\\udc00");
  });

  it("escapeJsonLine keeps the JSON value and leaves no line breaker or invisible character raw", () => {
    const nasty = { username: "m\u0085a\u2028l\u2029l\u202eo\u200by\u007f\n", n: 1 };
    const line = escapeJsonLine(JSON.stringify(nasty));
    assert.deepEqual(JSON.parse(line), nasty);
    assert.match(line, /^[\x20-\x7e]+$/, "only printable ASCII left");
  });

  it("createJsonLogger escapes keys and values", () => {
    const written: string[] = [];
    const logger = createJsonLogger("info", (line) => written.push(line));
    logger.info({ "key\u2028": "value\u0085", username: "a\nb" }, "msg\u202e");
    assert.equal(written.length, 1);
    assert.equal(written[0]!.split("\n").length, 2, "one line");
    assert.match(written[0]!, /^[\x20-\x7e]+\n$/);
    const record = JSON.parse(written[0]!) as Record<string, unknown>;
    assert.equal(record["key\u2028"], "value\u0085");
    assert.equal(record.username, "a\nb");
  });
});
