#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist-test, plugins/*/dist-test, test/dist) with
// node:test. --test-force-exit keeps a failed hook from hanging the run; the exit code is
// non-zero on any failure. Extra arguments are passed to node --test (e.g. --test-name-pattern).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";

const roots = [];
for (const group of ["packages", "plugins"]) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group)) roots.push(join(group, name, "dist-test"));
}
roots.push(join("test", "dist"));

function collect(dir, out) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (entry.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const files = roots.flatMap((root) => collect(root, [])).sort();
if (files.length === 0) {
  console.error("no test files found: run `npm run build` first");
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--test", "--test-force-exit", "--test-timeout=120000", "--test-concurrency=2", ...process.argv.slice(2), ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
