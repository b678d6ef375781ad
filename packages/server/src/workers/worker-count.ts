import { availableParallelism } from "node:os";

/** `workers:` as a number of processes: `auto` is the CPUs this process may run on; absent is 1. */
export function workerCount(setting: number | "auto" | undefined): number {
  if (setting === undefined) return 1;
  return setting === "auto" ? availableParallelism() : setting;
}
