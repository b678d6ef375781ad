// Deadlines in simulated time: the in-process engine runs on a ManualClock (startProxy's
// `clock`), and a test advances it instead of sleeping. Sockets still run on the real event
// loop, so before advancing, a test waits (briefly, in real time) until the proxy has seen
// what the deadline is about: the connection accepted, a byte relayed, a FIN passed on.
import type { TestProxy } from "./proxy.js";

export { ManualClock } from "@gatehouse-proxy/core/engine";

/** The timer wheel's resolution: a deadline fires at most two of these after it is due in simulated time. */
export const WHEEL_RESOLUTION_MS = 100;

/** Polls until `condition` holds; fails after `timeoutMs` of real time, naming `what`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Waits until the proxy holds `count` open client connections: their sessions exist and their deadlines run. */
export function connectionsOpen(proxy: TestProxy, count: number): Promise<void> {
  return until(
    () => proxy.server.stats.activeConnections === count,
    `${String(count)} open connection(s) at the proxy (has ${String(proxy.server.stats.activeConnections)})`,
  );
}
