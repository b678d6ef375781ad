import type { RunningCli } from "./cli.js";
import { waitFor } from "./socks-attempt.js";

/** The node options that load helpers/gc-probe.js into a gatehouse process (startCli's `nodeArgs`). */
export const GC_PROBE_NODE_ARGS: readonly string[] = [
  "--expose-gc",
  "--import",
  new URL("./gc-probe.js", import.meta.url).href,
];

/** What the probe reports after a full collection, in bytes. */
export interface LiveMemory {
  readonly heapUsed: number;
  readonly external: number;
  readonly rss: number;
}

const PREFIX = "gc-probe ";

/** Collects garbage in a process started with GC_PROBE_NODE_ARGS and resolves with what is still live. */
export async function liveMemory(proxy: RunningCli): Promise<LiveMemory> {
  const from = proxy.stderr().length;
  process.kill(proxy.child.pid!, "SIGUSR2");
  let report: LiveMemory | undefined;
  await waitFor(() => {
    const line = proxy
      .stderr()
      .slice(from)
      .split("\n")
      .find((text) => text.startsWith(PREFIX));
    if (line !== undefined) report = JSON.parse(line.slice(PREFIX.length)) as LiveMemory;
    return report !== undefined;
  }, "a gc-probe report on stderr (is the process started with GC_PROBE_NODE_ARGS?)");
  return report!;
}
