#!/usr/bin/env node
// `npm run bench`: Gatehouse vs microsocks vs Dante vs a direct connection, side by side,
// with socksbench/echod from ../shared/socksbench. See `node bench/run.js --help`.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MEASURES, PROFILES, measure } from "./measures.js";
import { childFdLimit, haveCommand, installCleanupHandlers, stopProcess } from "./procs.js";
import { summarizeProfile } from "./profile-summary.js";
import { gatehouseLogSummary, problems, progressLine, ratiosTable, resultsTable } from "./report.js";
import { buildTools, repoRoot, startEchod } from "./socksbench.js";
import { missingBinary, selectSubjects } from "./subjects.js";
import { SCHEDS, VARIANTS, WORKER_MEASURES, parseList, parseWorkerCounts, runWorkersBench } from "./workers.js";

const PROXY_CPU = 0;
const LOAD_CPU = 1;
/** With --workers nothing is pinned apart: the workers need every core, the load shares them. */
const ALL_CPUS = `0-${String(availableParallelism() - 1)}`;

const HELP = `usage: npm run bench -- [options]   (or: node bench/run.js [options] after npm run build)
  --quick              ~1-minute smoke run (short windows, 1000 idle tunnels)
  --only LIST          subjects, comma-separated: gatehouse (splice relay), gatehouse-js, gatehouse-auth, gatehouse-policy,
                       microsocks, microsocks-auth, dante, direct ("gatehouse" also selects
                       gatehouse-js, gatehouse-auth and gatehouse-policy: the same proxy on the JS relay,
                       with auth, with 100 policy rules)
  --measure LIST       measurements: idle, connrate, tp1, tp50, udp (default: all; udp: gatehouse, dante, direct)
  --rounds N           repeat connrate and throughput N times (1-5, order reversed every other
                       round) and keep each subject's best round: use on a noisy machine
                       (with --workers: fresh starts of every subject, default 3)
  --concurrency C      connrate: handshakes in flight (default 50; fewer leaves the CPUs partly idle)
  --tunnels N          idle tunnels (default 10000, or 1000 with --quick; lowered to fit the fd limit)
  --log-level LEVEL    Gatehouse logger: warn (default, JSON lines to a log file) or silent
  --cpu-prof           run Gatehouse under node --cpu-prof and summarise the profiles at the end
  --workers LIST       instead of the subjects above: the \`gatehouse\` command with workers: N for each N
                       (e.g. 1,2), variants plain / auth / limit, both cluster scheduling policies above one
                       worker; --rounds fresh starts each (default 3, min/median/max), per-worker shares,
                       ratios to workers: 1, and a distribution check of 10 000 connections.
                       Measures connrate, tp1, tp50 (default connrate,tp50); proxy and load share all CPUs.
  --variants LIST      with --workers: ${Object.keys(VARIANTS).join(", ")} (default all)
  --sched LIST         with --workers: NODE_CLUSTER_SCHED_POLICY values ${SCHEDS.join(", ")} (default both)
Environment: SOCKSBENCH_DIR = socksbench sources (default ../shared/socksbench from the repo root).
Proxies run on CPU ${String(PROXY_CPU)}; echod and socksbench on CPU ${String(LOAD_CPU)}.`;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      measure: { type: "string" },
      tunnels: { type: "string" },
      concurrency: { type: "string" },
      rounds: { type: "string" },
      "log-level": { type: "string", default: "warn" },
      "cpu-prof": { type: "boolean", default: false },
      workers: { type: "string" },
      variants: { type: "string", default: Object.keys(VARIANTS).join(",") },
      sched: { type: "string", default: SCHEDS.join(",") },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (!["warn", "silent"].includes(values["log-level"])) throw new Error("--log-level: warn or silent");
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 1000)) {
    throw new Error("--concurrency: 1 to 1000");
  }
  const workers = values.workers !== undefined;
  const rounds = Number(values.rounds ?? (workers ? 3 : 1));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 5) throw new Error("--rounds: 1 to 5");
  if (workers) {
    if (values.only !== undefined) throw new Error("--only and --workers: the --workers subjects are its own");
    return {
      ...values,
      rounds,
      concurrency,
      workers: {
        counts: parseWorkerCounts(values.workers),
        variants: parseList("--variants", values.variants, Object.keys(VARIANTS)),
        scheds: parseList("--sched", values.sched, SCHEDS),
        measures: parseList("--measure", values.measure ?? "connrate,tp50", WORKER_MEASURES),
        rounds,
      },
    };
  }
  const measures = parseList("--measure", values.measure ?? MEASURES.join(","), MEASURES);
  return { ...values, rounds, concurrency, measures, subjects: selectSubjects(values.only) };
}

/**
 * Idle tunnels every proxy can hold, in hundreds: two descriptors per tunnel within Gatehouse's
 * connection budget (packages/core/src/listener/fd-budget.ts keeps an eighth of the fd limit,
 * 64 to 4096, in reserve), less a hundred for the load generator's stragglers.
 */
function idleTunnelCount(requested, nofile) {
  const reserve = Math.min(4096, Math.max(64, Math.floor(nofile / 8)));
  const fit = Math.floor((nofile - reserve) / 2 / 100) * 100 - 100;
  if (fit < requested) {
    console.log(
      `note: the fd limit for child processes is ${String(nofile)} (prlimit cannot raise it here), so the proxy ` +
        `can hold at most ~${String(fit)} tunnels: idle uses ${String(fit)} instead of ${String(requested)}.`,
    );
  }
  return Math.min(requested, fit);
}

const loadText = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

/** Starts every selected subject; a missing binary or a failed start skips it with a reason. */
async function startSubjects(subjects, ctx) {
  const proxies = {};
  const skipped = {};
  const running = [];
  for (const subject of subjects) {
    const missing = missingBinary(subject);
    if (missing) {
      skipped[subject.name] = missing;
      console.log(`bench: skipping ${subject.name}: ${missing}`);
      continue;
    }
    try {
      const proxy = await subject.start(ctx);
      running.push(subject);
      if (proxy === undefined) {
        console.log(`bench: ${subject.name} (no proxy)`);
        continue;
      }
      proxies[subject.name] = proxy;
      console.log(
        `bench: ${subject.name} on 127.0.0.1:${String(proxy.port)}, pid ${String(proxy.record.pid)}, ${proxy.note}`,
      );
    } catch (error) {
      skipped[subject.name] = `failed to start: ${error.message}`;
      console.log(`bench: skipping ${subject.name}: ${skipped[subject.name]}`);
    }
  }
  return { proxies, skipped, running };
}

/** The run with the higher figure (errors lose): connrate by conn/s, throughput by MB/s. */
function better(a, b) {
  if (a.ok !== b.ok) return a.ok ? a : b;
  const figure = (run) => run.connPerS ?? run.mbPerS ?? -1;
  return figure(b) > figure(a) ? b : a;
}

/**
 * Measurement by measurement, every subject in turn, so that peers are measured close in
 * time. With rounds > 1 connrate and throughput repeat (the subject order reversed every
 * other round) and the best round counts; the others stay in the record as otherRounds.
 */
async function runMeasures({ measures, rounds }, running, proxies, env, profile) {
  const results = Object.fromEntries(running.map((subject) => [subject.name, {}]));
  for (const name of measures) {
    const roundCount = name === "idle" ? 1 : rounds;
    for (let round = 1; round <= roundCount; round++) {
      console.log(`\n[${name}${roundCount > 1 ? ` round ${String(round)}/${String(roundCount)}` : ""}]`);
      const order = round % 2 === 1 ? running : [...running].reverse();
      for (const subject of order) {
        if (name === "idle" && subject.direct) continue; // no proxy memory to measure
        if (name === "udp" && !subject.udp) continue; // no UDP relay (or a login the UDP load does not make)
        const proxy = proxies[subject.name];
        if (proxy?.record.exited) {
          console.log(
            `  ${name.padEnd(8)} ${subject.name.padEnd(16)} skipped: the proxy exited (${String(proxy.record.exit)})`,
          );
          continue;
        }
        const run = await measure(name, { subject, proxy, env, profile });
        console.log(progressLine(subject.name, run));
        const previous = results[subject.name][name];
        if (previous === undefined) {
          results[subject.name][name] = { ...run, otherRounds: [] };
          continue;
        }
        const { otherRounds, ...previousRun } = previous;
        const best = better(previousRun, run);
        results[subject.name][name] = { ...best, otherRounds: [...otherRounds, best === run ? previousRun : run] };
      }
    }
  }
  return results;
}

function printReport({ options, profile, env, running, proxies, skipped, results, ctx }) {
  const mode = options.quick ? "quick" : "full";
  const best = options.rounds > 1 ? `, best of ${String(options.rounds)} rounds` : "";
  console.log(`\nResults (${mode} run${best}; "!" = the run reported errors, see Problems)`);
  console.log(resultsTable(running, results));
  console.log("\nRatios Gatehouse / peer (conn/s, MB/s: >1 is better; p50, p99, KiB: <1 is better)");
  console.log(ratiosTable(running, results));
  const { connrate, throughput, idle } = profile;
  console.log(
    `\nconnrate: -c ${String(connrate.c)}, ${String(connrate.t)} s window after ${String(connrate.W)} s warm-up, ` +
      "64-byte echo, server closes first; latency = connect() to last echoed byte.\n" +
      `throughput: ${String(throughput.t)} s, echo, MB/s = verified bytes back (10^6 B; the proxy moves twice that).\n` +
      `idle: ${String(env.idleTunnels)} tunnels held ${String(idle.H)} s; peak growth per tunnel of VmRSS ` +
      "(of Pss summed over its processes for Dante, which forks).\n" +
      `udp: one UDP ASSOCIATE, ${String(profile.udp.window)} × ${String(profile.udp.size)}-byte datagrams in flight to a ` +
      `UDP echo server for ${String(profile.udp.t)} s; dgram/s = datagrams the proxy relayed (2 per round trip); ` +
      "µs CPU/dgram = the proxy tree's user+sys from /proc over the run / datagrams relayed.",
  );
  const failures = problems(running, results);
  if (failures.length > 0) console.log(`\nProblems:\n${failures.join("\n")}`);
  for (const [name, why] of Object.entries(skipped)) console.log(`skipped ${name}: ${why}`);
  const logLines = gatehouseLogSummary(proxies);
  if (logLines.length > 0) console.log(`\nGatehouse logs:\n${logLines.join("\n")}`);
  if (ctx.cpuProf && existsSync(ctx.profDir)) {
    console.log("\nCPU profiles (Gatehouse processes, whole run):");
    for (const file of readdirSync(ctx.profDir)) console.log(summarizeProfile(join(ctx.profDir, file), 15).join("\n"));
  }
  return failures;
}

function writeRaw(raw) {
  const outDir = join(repoRoot, ".bench");
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, `results-${raw.started.replace(/[:.]/g, "-")}.json`);
  writeFileSync(outFile, `${JSON.stringify(raw, null, 2)}\n`);
  return outFile;
}

/** The subjects of `--only` side by side: measurement by measurement, every subject in turn. */
async function runSubjects(options, profile, ctx, env) {
  const { proxies, skipped, running } = await startSubjects(options.subjects, ctx);
  const results = await runMeasures(options, running, proxies, env, profile);
  for (const proxy of Object.values(proxies)) await stopProcess(proxy.record);
  const failures = printReport({ options, profile, env, running, proxies, skipped, results, ctx });
  // Exit 1 when a Gatehouse run failed; peers' failures are reported but do not fail the run.
  const failed = failures.some((line) => line.trimStart().startsWith("gatehouse"));
  return { failed, raw: { idle_tunnels: env.idleTunnels, skipped, results } };
}

async function main() {
  const options = parseOptions();
  installCleanupHandlers();
  const started = new Date();
  const base = options.quick ? PROFILES.quick : PROFILES.full;
  const profile =
    options.concurrency === undefined ? base : { ...base, connrate: { ...base.connrate, c: options.concurrency } };
  for (const tool of ["taskset", "prlimit", "cc"]) {
    if (!haveCommand(tool)) throw new Error(`${tool} is required (util-linux / a C compiler)`);
  }
  const tmp = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
  const tools = buildTools(tmp);
  const nofile = childFdLimit();
  const workers = options.workers;
  const proxyCpu = workers ? ALL_CPUS : PROXY_CPU;
  const loadCpu = workers ? ALL_CPUS : LOAD_CPU;
  const ctx = {
    tmp,
    cpu: proxyCpu,
    nofile,
    logLevel: options["log-level"],
    cpuProf: options["cpu-prof"],
    profDir: join(tmp, "cpu-prof"),
  };
  console.log(`bench: ${options.quick ? "quick" : "full"} run, temp dir ${tmp}`);
  if (workers) {
    console.log(
      `bench: --workers ${workers.counts.join(",")}: the gatehouse command (primary + workers), echod and socksbench ` +
        `all on CPUs ${ALL_CPUS} (not pinned apart: the workers need every core; the load generator shares them); ` +
        `fd limit ${String(nofile)}`,
    );
  } else {
    console.log(
      `bench: proxies on CPU ${String(PROXY_CPU)}, echod + socksbench on CPU ${String(LOAD_CPU)}; fd limit ${String(nofile)}`,
    );
  }
  console.log(`bench: Gatehouse logger level "${ctx.logLevel}"${ctx.cpuProf ? ", under --cpu-prof" : ""}`);
  console.log(`bench: load average at start ${loadText()} (the machine may be shared: compare ratios, not absolutes)`);

  const echoArgs = { echod: tools.echod, cpu: loadCpu, nofile, maxSeconds: 3600 };
  const env = {
    tools,
    nofile,
    loadCpu,
    proxyCpu,
    idleTunnels: workers ? 0 : idleTunnelCount(Number(options.tunnels ?? profile.idle.n), nofile),
    echod: await startEchod({ ...echoArgs, logFile: join(tmp, "echod.log") }),
    echodClose: await startEchod({ ...echoArgs, logFile: join(tmp, "echod-C.log"), closeAfter: 64 }),
  };
  const { failed, raw } = workers
    ? await runWorkersBench({ ...workers, profile }, ctx, env)
    : await runSubjects(options, profile, ctx, env);
  await stopProcess(env.echod.record);
  await stopProcess(env.echodClose.record);

  const elapsedS = (Date.now() - started.getTime()) / 1000;
  const outFile = writeRaw({
    started: started.toISOString(),
    elapsed_s: elapsedS,
    mode: options.quick ? "quick" : "full",
    rounds: options.rounds,
    profile,
    fd_limit: nofile,
    node: process.version,
    gatehouse_log_level: ctx.logLevel,
    load_average_end: loadavg(),
    ...(workers && { workers: raw }),
    ...(!workers && raw),
  });
  console.log(`\nraw results: ${outFile}`);
  console.log(`elapsed ${elapsedS.toFixed(0)} s; load average at end ${loadText()}; logs in ${tmp}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code), // the exit handler kills anything still running
  (error) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
