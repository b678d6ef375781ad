// A node:test reporter for `node scripts/run-tests.js --record-durations`: adds up each test
// file's top-level test durations and, at the end of the run, writes them (seconds, by path
// relative to the repository) into scripts/test-tiers/durations.json, merged with the files
// this run did not include. run-tests.js starts the longest files first from that table. The
// table is rewritten after every top-level test: --test-force-exit may end the process before
// a reporter's last words.
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { URL, fileURLToPath } from "node:url";

export const DURATIONS_FILE = fileURLToPath(new URL("./durations.json", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** file path relative to the repository → seconds, from the last recorded run ({} if none). */
export function readDurations() {
  try {
    return JSON.parse(readFileSync(DURATIONS_FILE, "utf8"));
  } catch {
    return {};
  }
}

export default async function* durationsReporter(source) {
  const before = readDurations();
  const seconds = new Map();
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { file, nesting, details } = event.data;
    if (nesting !== 0 || file === undefined) continue;
    const path = relative(ROOT, file);
    seconds.set(path, (seconds.get(path) ?? 0) + details.duration_ms / 1000);
    const merged = { ...before };
    for (const [done, value] of seconds) merged[done] = Math.round(value * 10) / 10;
    const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
    writeFileSync(DURATIONS_FILE, JSON.stringify(sorted, null, 2) + "\n");
  }
  yield "";
}
