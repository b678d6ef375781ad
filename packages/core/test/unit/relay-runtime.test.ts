import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { RECOMMENDED_TRIM_THRESHOLD, heapTrimState, tuneProcessForRelay } from "@gatehouse-proxy/core/engine";

describe("relay runtime: glibc heap trimming", () => {
  it("is tuned by MALLOC_TRIM_THRESHOLD_ or a glibc tunable of at least 64 MiB, and only on glibc", () => {
    const recommended = String(RECOMMENDED_TRIM_THRESHOLD);
    assert.equal(heapTrimState({}, true), "glibc-default");
    assert.equal(heapTrimState({ MALLOC_TRIM_THRESHOLD_: recommended }, true), "env");
    assert.equal(heapTrimState({ MALLOC_TRIM_THRESHOLD_: "131072" }, true), "glibc-default", "glibc's own default");
    assert.equal(heapTrimState({ MALLOC_TRIM_THRESHOLD_: "lots" }, true), "glibc-default");
    assert.equal(heapTrimState({ GLIBC_TUNABLES: `glibc.malloc.trim_threshold=${recommended}` }, true), "env");
    assert.equal(
      heapTrimState({ GLIBC_TUNABLES: `glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=${recommended}` }, true),
      "env",
    );
    assert.equal(heapTrimState({ GLIBC_TUNABLES: "glibc.malloc.trim_threshold=4096" }, true), "glibc-default");
    assert.equal(heapTrimState({ MALLOC_TRIM_THRESHOLD_: recommended }, false), "not-glibc");
  });
});

describe("relay runtime: the addon's allocator tuning", () => {
  it("is used only when the environment leaves glibc's default, and counts only when it applied", () => {
    let calls = 0;
    const applies = (): boolean => (calls++, true);
    const heapTrim = tuneProcessForRelay({}, applies).heapTrim;
    assert.ok(heapTrim === "addon" || heapTrim === "not-glibc", heapTrim);
    assert.equal(calls, heapTrim === "addon" ? 1 : 0);
    const env = { MALLOC_TRIM_THRESHOLD_: String(RECOMMENDED_TRIM_THRESHOLD) };
    assert.notEqual(tuneProcessForRelay(env, applies).heapTrim, "addon", "the environment already raised it");
    assert.notEqual(tuneProcessForRelay({}, () => false).heapTrim, "addon", "not applied (no addon, not glibc)");
  });
});

describe("relay runtime: V8", () => {
  it("turns incremental marking off: a churn of read-sized buffers is collected without it", async () => {
    const runtime = tuneProcessForRelay({});
    assert.equal(runtime.incrementalMarking, false);
    const kinds: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) kinds.push((entry as unknown as { detail: { kind: number } }).detail.kind);
    });
    observer.observe({ entryTypes: ["gc"] });
    // Some long-lived objects, then ~390 MB of 64 KiB buffers (what socket reads allocate),
    // yielding now and then as a relay does: with incremental marking on, this starts it.
    const oldSpace = Array.from({ length: 200 }, (_, index) => new Array<number>(1000).fill(index));
    for (let index = 0; index < 6000; index++) {
      Buffer.allocUnsafeSlow(65536)[0] = 1;
      if (index % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    observer.disconnect();
    assert.ok(oldSpace.length > 0);
    assert.ok(kinds.length > 0, "the churn caused collections");
    assert.ok(!kinds.includes(constants.NODE_PERFORMANCE_GC_INCREMENTAL), `collections by kind: ${kinds.join(",")}`);
  });
});
