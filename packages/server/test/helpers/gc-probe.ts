// Preloaded (`node --expose-gc --import`) into a gatehouse process under test, never shipped: on
// SIGUSR2 it runs a full garbage collection and writes the memory still live to stderr, so a
// test can tell memory a process holds from garbage V8 has not collected yet (dead Buffers count
// toward RSS until a collection, and V8 lets up to 64 MiB of them pile up before it starts one).
const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error("gc-probe needs node --expose-gc");

// V8 frees the backing stores of dead ArrayBuffers (Buffers) on a background thread after a
// collection: the second collection, a moment later, reports `external` once they are gone.
process.on("SIGUSR2", () => {
  collect();
  setTimeout(() => {
    collect();
    const { heapUsed, external, rss } = process.memoryUsage();
    // The line's prefix is the one live-memory.ts looks for (not imported: this file runs in the proxy).
    process.stderr.write(`gc-probe ${JSON.stringify({ heapUsed, external, rss })}\n`);
  }, 100);
});
