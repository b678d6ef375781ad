#!/usr/bin/env node
// Runs the compiled test files (packages/*/dist-test, plugins/*/dist-test, test/dist) with
// node:test, by tier. A file's tier is the folder it sits in under its package's test folder:
//
//   unit/      no child process and no backend (a preload makes child_process throw); < 30 s
//   backends/  real slapd, redis-server, webhook receivers, openssl, cc
//   e2e/       the real `gatehouse` process driven by real clients
//
//   node scripts/run-tests.js [--tier unit|backends|e2e[,...]] [--list] [--record-durations]
//                             [node --test options]
//
// Without --tier, every tier runs (unit first). When e2e runs, the workspace packages are packed
// once (while the unit tier runs) into GATEHOUSE_PACKED_DIR for the install tests to share. Before backends or e2e, scripts/test-tiers/
// preflight.js checks the programs they start and stops with one apt-get line if any is missing.
// --test-force-exit keeps a failed hook from hanging the run; the exit code is non-zero on any
// failure. Other arguments are passed to node --test (e.g. --test-name-pattern).
//
// Files start longest first (by scripts/test-tiers/durations.json; a file not in it counts as
// UNKNOWN_SECONDS), so the run does not end with one long file alone on a core.
// --record-durations rewrites that table from this run (it adds the spec reporter on stdout).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { preflightLine } from "./test-tiers/preflight.js";
import { readDurations } from "./test-tiers/durations-reporter.js";

export const TIERS = ["unit", "backends", "e2e"];
const GUARD = fileURLToPath(import.meta.resolve("./test-tiers/no-child-process.js"));
const DURATIONS_REPORTER = fileURLToPath(import.meta.resolve("./test-tiers/durations-reporter.js"));
/** The weight of a file durations.json does not know yet (a new file): early rather than last. */
const UNKNOWN_SECONDS = 10;

function testRoots() {
  const roots = [];
  for (const group of ["packages", "plugins"]) {
    if (!existsSync(group)) continue;
    for (const name of readdirSync(group).sort()) roots.push(join(group, name, "dist-test"));
  }
  roots.push(join("test", "dist"));
  return roots;
}

function collect(dir, out) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (entry.endsWith(".test.js")) out.push(path);
  }
  return out;
}

/** Every test file by tier, and the files in no tier folder (an error: each file has one). */
export function filesByTier() {
  const tiers = Object.fromEntries(TIERS.map((tier) => [tier, []]));
  const stray = [];
  for (const root of testRoots()) {
    for (const file of collect(root, [])) {
      const tier = relative(root, file).split(sep)[0];
      if (TIERS.includes(tier)) tiers[tier].push(file);
      else stray.push(file);
    }
  }
  for (const files of Object.values(tiers)) files.sort();
  return { tiers, stray: stray.sort() };
}

/** `files` longest first by the recorded durations; equal ones keep their order. */
export function longestFirst(files, durations = readDurations()) {
  const seconds = (file) => durations[relative(".", file).split(sep).join("/")] ?? UNKNOWN_SECONDS;
  return [...files].sort((a, b) => seconds(b) - seconds(a));
}

function parseArguments(argv) {
  const chosen = [];
  const passThrough = [];
  let list = false;
  let record = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === "--list") list = true;
    else if (arg === "--record-durations") record = true;
    else if (arg === "--tier" || arg.startsWith("--tier=")) {
      const value = arg === "--tier" ? argv[++index] : arg.slice("--tier=".length);
      for (const tier of (value ?? "").split(",")) {
        if (!TIERS.includes(tier)) {
          console.error(`unknown tier "${tier}": expected ${TIERS.join(", ")}`);
          process.exit(2);
        }
        chosen.push(tier);
      }
    } else passThrough.push(arg);
  }
  if (record) {
    passThrough.push(
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      `--test-reporter=${DURATIONS_REPORTER}`,
      "--test-reporter-destination=/dev/null",
    );
  }
  return { chosen: chosen.length === 0 ? TIERS : TIERS.filter((tier) => chosen.includes(tier)), passThrough, list };
}

/** Starts `npm pack` of every workspace package into a temporary folder; resolves to it. */
function packInBackground() {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-packed-"));
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.resolve("./install-tarballs.js")), "--pack-only", dir],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const done = new Promise((resolve) => child.on("close", (code) => resolve(code === 0 ? dir : undefined)));
  return { dir, done };
}

/**
 * Node 20 applies --test-timeout to each file as a whole too, not only to each test: the plugin
 * template's install test took 75 s alone and over 120 s inside a full run on a loaded machine.
 */
const TEST_TIMEOUT_MS = 300_000;

function runNodeTest(files, concurrency, passThrough, env) {
  const result = spawnSync(
    process.execPath,
    [
      "--test",
      "--test-force-exit",
      `--test-timeout=${String(TEST_TIMEOUT_MS)}`,
      `--test-concurrency=${concurrency}`,
      ...passThrough,
      ...files,
    ],
    { stdio: "inherit", env },
  );
  return result.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { chosen, passThrough, list } = parseArguments(process.argv.slice(2));
  const { tiers, stray } = filesByTier();
  if (stray.length > 0) {
    console.error(`test files outside a tier folder (${TIERS.join("/, ")}/):\n  ${stray.join("\n  ")}`);
    process.exit(1);
  }
  if (list) {
    for (const tier of chosen) for (const file of tiers[tier]) console.log(`${tier}\t${file}`);
    process.exit(0);
  }
  if (chosen.every((tier) => tiers[tier].length === 0)) {
    console.error("no test files found: run `npm run build` first");
    process.exit(1);
  }
  if (chosen.some((tier) => tier !== "unit")) {
    const line = preflightLine();
    if (line !== undefined) {
      console.error(line);
      process.exit(1);
    }
  }
  let status = 0;
  const timings = [];
  const packed = chosen.includes("e2e") && tiers.e2e.length > 0 ? packInBackground() : undefined;
  if (chosen.includes("unit") && tiers.unit.length > 0) {
    const started = Date.now();
    const nodeOptions = [process.env.NODE_OPTIONS, `--import=${JSON.stringify(GUARD)}`].filter(Boolean).join(" ");
    status ||= runNodeTest(longestFirst(tiers.unit), 2, passThrough, { ...process.env, NODE_OPTIONS: nodeOptions });
    timings.push(`unit ${tiers.unit.length} files ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  // backends and e2e share one run. Their files spend much of their time waiting on child
  // processes and sockets, so three side by side use two cores better than two (measured:
  // 234 s → 191 s on this 2-core machine).
  const rest = chosen.filter((tier) => tier !== "unit");
  const restFiles = longestFirst(rest.flatMap((tier) => tiers[tier]));
  if (restFiles.length > 0) {
    const started = Date.now();
    // Without the shared tarballs (npm pack failed: its error is above), each install test packs.
    const packedDir = packed === undefined ? undefined : await packed.done;
    const env = packedDir === undefined ? process.env : { ...process.env, GATEHOUSE_PACKED_DIR: packedDir };
    status = runNodeTest(restFiles, 3, passThrough, env) || status;
    timings.push(`${rest.join("+")} ${restFiles.length} files ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  if (packed !== undefined) rmSync(packed.dir, { recursive: true, force: true });
  console.error(`tiers: ${timings.join("; ")}`);
  process.exit(status);
}
