import { setFlagsFromString } from "node:v8";

/**
 * What the process does for the JS relay's byte path (measured with `npm run bench:starts`,
 * issue 16). Node gives every socket read a fresh 64 KiB buffer outside V8's heap, which costs
 * twice when many bytes flow:
 *
 * - V8: the buffers' external memory starts incremental marking; buffers allocated while it
 *   runs survive until the next full collection, which the same pressure starts again — a loop
 *   that, once entered, runs a mark-compact every ~65 ms (61 in a 4 s one-tunnel run, 27 % of
 *   the process's busy time) and halves throughput. Without incremental marking the buffers die
 *   in scavenges (0 mark-compacts in the same run). Full collections become atomic; on a heap of
 *   tens of MB they take milliseconds.
 * - glibc: when a collection frees a batch of them, malloc returns the heap top to the kernel
 *   and the next reads fault fresh pages in (~200 minor faults per MB relayed, vs 2 for Dante).
 *   glibc's mallopt can (the relay addon, @gatehouse-proxy/relay-native, calls it), or the
 *   process's environment (MALLOC_TRIM_THRESHOLD_ is read when malloc starts).
 */
export interface RelayRuntime {
  readonly incrementalMarking: boolean;
  readonly heapTrim: HeapTrim;
}

/** Who raised glibc's trim threshold out of the relay's way: the relay addon, the environment, or nobody. */
export type HeapTrim = "addon" | "env" | "glibc-default" | "not-glibc";

/** The trim threshold the README recommends (256 MiB): above any batch a collection frees. */
export const RECOMMENDED_TRIM_THRESHOLD = 268_435_456;
const MIN_USEFUL_TRIM_THRESHOLD = 64 * 1024 * 1024;

/** Whether this environment raises glibc's heap trimming out of the relay's way. */
export function heapTrimState(env: NodeJS.ProcessEnv, glibc: boolean): HeapTrim {
  if (!glibc) return "not-glibc";
  const threshold = Number(env["MALLOC_TRIM_THRESHOLD_"]);
  if (Number.isFinite(threshold) && threshold >= MIN_USEFUL_TRIM_THRESHOLD) return "env";
  const tunable = /(?:^|:)glibc\.malloc\.trim_threshold=(\d+)/.exec(env["GLIBC_TUNABLES"] ?? "");
  if (tunable !== null && Number(tunable[1]) >= MIN_USEFUL_TRIM_THRESHOLD) return "env";
  return "glibc-default";
}

function runsOnGlibc(): boolean {
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report.header?.glibcVersionRuntime !== undefined;
}

/**
 * Sets the process up for relaying (turns V8's incremental marking off; raises glibc's trim
 * threshold with `raiseTrimThreshold`, the relay addon's `tuneAllocator`, when given and it
 * applies) and says how it runs. For the process that owns the proxy — the `gatehouse` command,
 * the benchmark — not for a library: it changes the memory management of the whole process.
 */
export function tuneProcessForRelay(
  env: NodeJS.ProcessEnv = process.env,
  raiseTrimThreshold?: () => boolean,
): RelayRuntime {
  setFlagsFromString("--no-incremental-marking");
  const fromEnv = heapTrimState(env, runsOnGlibc());
  const heapTrim = fromEnv === "glibc-default" && raiseTrimThreshold?.() === true ? "addon" : fromEnv;
  return { incrementalMarking: false, heapTrim };
}
