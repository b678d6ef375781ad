// `npm run bench -- --workers 1,2`: the real `gatehouse` command with `workers: N` for each N,
// in three variants (no auth; auth; auth plus a per-identity limit every session pays the
// primary's round trip for) and, above one worker, both node:cluster scheduling policies.
// Every subject runs over several fresh starts (--rounds); per start: a priming run, connrate
// (conn/s, µs proxy CPU per connection, the primary's own share, per-worker shares from the
// admin /metrics) and throughput. Then a distribution check of exactly 10 000 connections.
import { loadavg } from "node:os";
import { measure, ownCpuSeconds } from "./measures.js";
import { stopProcess } from "./procs.js";
import { gatehouseLogSummary, progressLine, spread, table } from "./report.js";
import { runSocksbench } from "./socksbench.js";
import { BENCH_PASSWORD, BENCH_USER, UNREACHED_IDENTITY_LIMIT, adminGet, startGatehouseWorkers } from "./subjects.js";

export const VARIANTS = {
  plain: "no auth, no limit",
  auth: "static provider (scrypt record, decision cache), no limit",
  limit: `auth + policy max_connections_per_identity: ${String(UNREACHED_IDENTITY_LIMIT)}`,
};
/** Issue 17: total proxy CPU per connection of N workers at most this many times that of 1. */
const CPU_PER_CONN_TARGET = { plain: 1.1, auth: 1.1, limit: 1.3 };
export const SCHEDS = ["rr", "none"];
export const WORKER_MEASURES = ["connrate", "tp1", "tp50"];
/** The distribution check: this many connections, in batches of idle tunnels held 0 s. */
const DISTRIBUTION_CONNECTIONS = 10_000;
const DISTRIBUTION_BATCH = 2_000;
/** Issue 17: with 2 workers each takes at least 35 % — 70 % of an even share. */
const FAIR_SHARE_FLOOR = 0.7;
/** Before the measured runs: JIT warm-up and the KDF of the first login, in every worker. */
const PRIME = { connrate: { c: 50, t: 1, W: 0 } };

/** "1,2" → [1, 2]: distinct worker counts, ascending. */
export function parseWorkerCounts(text) {
  const counts = text.split(",").map((item) => Number(item.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error("--workers: a list of 1 to 64");
  return [...new Set(counts)].sort((a, b) => a - b);
}

export function parseList(option, text, known) {
  const items = text.split(",").map((item) => item.trim());
  const unknown = items.filter((item) => !known.includes(item));
  if (unknown.length > 0) throw new Error(`${option}: unknown ${unknown.join(", ")}; known: ${known.join(", ")}`);
  return known.filter((item) => items.includes(item));
}

/** w1-plain, w2-rr-limit, ... (also the config and log file names). */
function subjectName(workers, sched, variant) {
  return [`w${String(workers)}`, ...(sched === undefined ? [] : [sched]), variant].join("-");
}

/** One subject per worker count, scheduling policy (above one worker) and variant. */
function workerSubjects(counts, scheds, variants) {
  const subjects = [];
  for (const workers of counts) {
    for (const sched of workers === 1 ? [undefined] : scheds) {
      for (const variant of variants) {
        const spec = { name: subjectName(workers, sched, variant), workers, sched, variant };
        subjects.push({
          ...spec,
          auth: variant === "plain" ? undefined : { user: BENCH_USER, password: BENCH_PASSWORD },
          start: (ctx) => startGatehouseWorkers(ctx, spec),
        });
      }
    }
  }
  return subjects;
}

/**
 * Connections accepted so far by each worker (1-based), from the admin /metrics: the primary's
 * `proxy_worker_connections_accepted_total{worker}`, or one process's `proxy_connections_accepted_total`.
 */
async function acceptedByWorker(adminPort) {
  const { status, body: text } = await adminGet(adminPort, "/metrics");
  if (status !== 200) throw new Error(`admin /metrics answered ${String(status)}`);
  const perWorker = [...text.matchAll(/^proxy_worker_connections_accepted_total\{worker="(\d+)"\} (\S+)$/gm)];
  if (perWorker.length > 0) {
    const counts = [];
    for (const [, worker, value] of perWorker) counts[Number(worker) - 1] = Number(value);
    return counts;
  }
  const single = [...text.matchAll(/^proxy_connections_accepted_total(?:\{[^}]*\})? (\S+)$/gm)];
  return [single.reduce((sum, [, value]) => sum + Number(value), 0)];
}

const delta = (after, before) => after.map((value, i) => value - (before[i] ?? 0));
const sum = (values) => values.reduce((a, b) => a + b, 0);
const sharesText = (counts) =>
  counts.map((n, i) => `w${String(i + 1)} ${((100 * n) / (sum(counts) || 1)).toFixed(1)}%`).join(" ");

/** One measurement with the admin counters read around it and the primary's own CPU time. */
async function measureWithShares(name, { subject, proxy, env, profile }) {
  const before = await acceptedByWorker(proxy.adminPort);
  const primaryBefore = ownCpuSeconds(proxy.record.pid);
  const run = await measure(name, { subject, proxy, env, profile });
  const primaryCpuS = ownCpuSeconds(proxy.record.pid) - primaryBefore;
  const accepted = delta(await acceptedByWorker(proxy.adminPort), before);
  const out = { ...run, accepted };
  if (subject.workers > 1) {
    // How lopsided this start was: the least busy worker's share of the connections.
    out.lowestSharePct = (100 * Math.min(...accepted)) / (sum(accepted) || 1);
    out.primaryCpuS = primaryCpuS;
    const completed = run.result?.completed_incl_warmup;
    if (name === "connrate" && completed > 0) out.primaryUsPerConn = (primaryCpuS * 1e6) / completed;
  }
  return out;
}

/** One fresh start of `subject`: prime it, run each measurement, stop it. */
async function oneStart(subject, { ctx, env, profile, measures, logFiles }) {
  const proxy = await subject.start(ctx);
  logFiles[`gatehouse ${subject.name}`] = { logFile: proxy.logFile };
  try {
    const primed = await measure("connrate", { subject, proxy, env, profile: PRIME });
    if (!primed.ok) console.log(`  ${subject.name}: the priming run failed (exit ${String(primed.exitCode)})`);
    const runs = {};
    for (const name of measures) {
      const run = await measureWithShares(name, { subject, proxy, env, profile });
      const primary = run.primaryCpuS === undefined ? "" : `; primary ${run.primaryCpuS.toFixed(2)}s`;
      console.log(`${progressLine(subject.name, run)}${primary}; accepted ${sharesText(run.accepted)}`);
      runs[name] = run;
    }
    return runs;
  } finally {
    await stopProcess(proxy.record);
  }
}

/**
 * Exactly DISTRIBUTION_CONNECTIONS connections (handshake, CONNECT, one echo) against a fresh
 * start, in batches of idle tunnels held 0 s (socksbench has no connection count for connrate),
 * and how the admin counters say they were spread over the workers.
 */
async function distributionCheck(subject, { ctx, env }) {
  const proxy = await subject.start(ctx);
  try {
    const before = await acceptedByWorker(proxy.adminPort);
    let established = 0;
    let errors = 0;
    for (let done = 0; done < DISTRIBUTION_CONNECTIONS; done += DISTRIBUTION_BATCH) {
      const run = await runSocksbench({
        socksbench: env.tools.socksbench,
        cpu: env.loadCpu,
        nofile: env.nofile,
        args: ["-m", "idle", "-x", `127.0.0.1:${String(proxy.port)}`, "-d", env.echod.dest]
          .concat(["-n", String(DISTRIBUTION_BATCH), "-H", "0", "-c", "50", "-L", `${subject.name}/distribution`])
          .concat(subject.auth ? ["-u", subject.auth.user, "-P", subject.auth.password] : []),
        deadlineS: 120,
      });
      established += run.result?.established ?? 0;
      errors += run.result?.errors_total ?? 1;
    }
    const accepted = delta(await acceptedByWorker(proxy.adminPort), before);
    const floor = FAIR_SHARE_FLOOR / subject.workers;
    const minShare = Math.min(...accepted) / (sum(accepted) || 1);
    return { name: subject.name, established, errors, accepted, minShare, floor, fair: minShare >= floor };
  } finally {
    await stopProcess(proxy.record);
  }
}

const MEASURE_COLUMNS = {
  connrate: [
    { header: "conn/s", field: "connPerS", digits: 0 },
    { header: "µs CPU/conn", field: "cpuUsPerConn", digits: 0 },
    { header: "of which primary", field: "primaryUsPerConn", digits: 0 },
    { header: "lowest worker %", field: "lowestSharePct", digits: 0 },
  ],
  tp1: [
    { header: "MB/s 1 tun", field: "mbPerS", digits: 0 },
    { header: "s CPU/GB 1", field: "cpuSPerGB", digits: 2 },
  ],
  tp50: [
    { header: "MB/s 50 tun", field: "mbPerS", digits: 0 },
    { header: "s CPU/GB 50", field: "cpuSPerGB", digits: 2 },
    { header: "lowest worker % 50", field: "lowestSharePct", digits: 0 },
  ],
};

/** Per subject and column: min / median / max over the fresh starts. */
function summaryTable(subjects, runs, measures) {
  const columns = measures.flatMap((name) => MEASURE_COLUMNS[name].map((column) => ({ ...column, measure: name })));
  const rows = [["subject", ...columns.map((c) => c.header), "connrate accepted (all starts)"]];
  for (const subject of subjects) {
    const starts = runs[subject.name];
    const cells = columns.map((c) =>
      spread(starts.map((start) => start[c.measure]).filter(Boolean), c.field, c.digits),
    );
    const accepted = starts.reduce(
      (total, start) => (start.connrate?.accepted ?? []).map((n, i) => n + (total[i] ?? 0)),
      [],
    );
    rows.push([subject.name, ...cells.map((cell) => cell.text), accepted.length > 0 ? sharesText(accepted) : "—"]);
  }
  return table(rows);
}

/**
 * N workers / 1 worker of the same variant, start by start: the starts of one round ran
 * minutes apart at most, so a machine whose load drifts during the run skews the pair less
 * than it skews each subject's median. Also the ratio of the medians.
 */
function pairedRatios(runs, subject, base, measureName, field) {
  const ratios = runs[subject.name].map((start, round) => {
    const a = start[measureName];
    const b = runs[base.name][round]?.[measureName];
    if (!a?.ok || !b?.ok || typeof a[field] !== "number" || typeof b[field] !== "number" || b[field] === 0) {
      return { ok: false };
    }
    return { ok: true, ratio: a[field] / b[field] };
  });
  const paired = spread(ratios, "ratio", 2);
  const a = spread(runs[subject.name].map((start) => start[measureName]).filter(Boolean), field, 0).median;
  const b = spread(runs[base.name].map((start) => start[measureName]).filter(Boolean), field, 0).median;
  return { paired, ofMedians: a === undefined || b === undefined || b === 0 ? undefined : a / b };
}

/** N workers against 1 worker of the same variant; CPU per connection against issue 17's target. */
function ratioTable(subjects, runs, measures) {
  const rows = [
    ["subject", "vs", "conn/s", "µs CPU/conn per start", "of medians", "target", "", "MB/s 50", "s CPU/GB 50"],
  ];
  for (const subject of subjects.filter((s) => s.workers > 1)) {
    const base = subjects.find((s) => s.workers === 1 && s.variant === subject.variant);
    if (base === undefined) continue;
    const ratios = (measureName, field) =>
      measures.includes(measureName) ? pairedRatios(runs, subject, base, measureName, field) : undefined;
    const median = (r) => (r?.paired.median === undefined ? "—" : `${r.paired.median.toFixed(2)}x`);
    const cpu = ratios("connrate", "cpuUsPerConn");
    const target = CPU_PER_CONN_TARGET[subject.variant];
    const verdict = cpu?.paired.median === undefined ? "" : cpu.paired.median <= target ? "ok" : "OVER";
    rows.push([
      subject.name,
      base.name,
      median(ratios("connrate", "connPerS")),
      cpu === undefined ? "—" : cpu.paired.text,
      cpu?.ofMedians === undefined ? "—" : `${cpu.ofMedians.toFixed(2)}x`,
      `≤ ${target.toFixed(1)}x`,
      verdict,
      median(ratios("tp50", "mbPerS")),
      median(ratios("tp50", "cpuSPerGB")),
    ]);
  }
  return rows.length > 1 ? table(rows) : "(no workers: 1 subject of the same variant: no ratios)";
}

function distributionTable(checks) {
  const rows = [["subject", "connections", "errors", "accepted (metrics)", "per worker", "lowest share", ""]];
  for (const check of checks) {
    rows.push([
      check.name,
      String(check.established),
      String(check.errors),
      String(sum(check.accepted)),
      sharesText(check.accepted),
      `${(100 * check.minShare).toFixed(1)}%`,
      `${check.fair ? "ok" : "UNEVEN"} (≥ ${(100 * check.floor).toFixed(0)}%)`,
    ]);
  }
  return table(rows);
}

/**
 * Runs the whole `--workers` benchmark; prints the tables and returns the raw record (and
 * whether any Gatehouse run failed). `env` holds the tools and echo servers, `ctx` the start context.
 */
export async function runWorkersBench({ counts, scheds, variants, measures, rounds, profile }, ctx, env) {
  const subjects = workerSubjects(counts, scheds, variants);
  const runs = Object.fromEntries(subjects.map((subject) => [subject.name, []]));
  const logFiles = {};
  for (let round = 1; round <= rounds; round++) {
    console.log(`\n[fresh start ${String(round)}/${String(rounds)}; load average ${loadavg()[0].toFixed(2)}]`);
    const order = round % 2 === 1 ? subjects : [...subjects].reverse();
    for (const subject of order) {
      try {
        runs[subject.name].push(await oneStart(subject, { ctx, env, profile, measures, logFiles }));
      } catch (error) {
        console.log(`  ${subject.name}: FAILED: ${error.message}`);
        runs[subject.name].push({ startError: error.message });
      }
    }
  }
  const checks = [];
  const plainAbove1 = subjects.filter((s) => s.workers > 1 && s.variant === variants[0]);
  if (plainAbove1.length > 0) {
    console.log(`\n[distribution: ${String(DISTRIBUTION_CONNECTIONS)} connections per subject, ${variants[0]}]`);
    for (const subject of plainAbove1) {
      try {
        const check = await distributionCheck(subject, { ctx, env });
        console.log(`  ${subject.name}: ${String(check.established)} connections, ${sharesText(check.accepted)}`);
        checks.push(check);
      } catch (error) {
        console.log(`  ${subject.name}: FAILED: ${error.message}`);
        checks.push({
          name: subject.name,
          established: 0,
          errors: 1,
          accepted: [],
          minShare: 0,
          floor: 0,
          fair: false,
        });
      }
    }
  }

  const { connrate, throughput } = profile;
  console.log(
    `\nResults: min / median / max over ${String(rounds)} fresh start(s) per subject. ` +
      "CPU = the proxy's whole process tree (primary + workers) from /proc.",
  );
  console.log(summaryTable(subjects, runs, measures));
  console.log(
    "\nN workers / 1 worker of the same variant: start by start (same round; min / median / max, the verdict on " +
      "the median) and of the medians; the targets are issue 17's for CPU per connection",
  );
  console.log(ratioTable(subjects, runs, measures));
  if (checks.length > 0) {
    console.log(`\nDistribution of ${String(DISTRIBUTION_CONNECTIONS)} connections (admin /metrics, per worker)`);
    console.log(distributionTable(checks));
  }
  console.log(
    `\nconnrate: -c ${String(connrate.c)}, ${String(connrate.t)} s window after ${String(connrate.W)} s warm-up, ` +
      "64-byte echo, server closes first; CPU per connection over warm-up + window; " +
      `"of which primary" = the primary's own CPU (accepting and handing over with rr, the shared limits); ` +
      `"lowest worker %" = the least busy worker's share of that measurement's connections in one start.\n` +
      `throughput: ${String(throughput.t)} s echo, MB/s = verified bytes back; CPU per GB the proxy relayed (both ways).\n` +
      `variants: ${Object.entries(VARIANTS)
        .map(([name, what]) => `${name} = ${what}`)
        .join("; ")}.\n` +
      "Every start is primed with a 1 s connrate run first (JIT, and the login's KDF once per worker).",
  );
  const failed = Object.entries(runs).flatMap(([name, starts]) =>
    starts.flatMap((start) =>
      start.startError !== undefined
        ? [`${name}: ${start.startError}`]
        : Object.values(start)
            .filter((run) => !run.ok)
            .map(
              (run) =>
                `${name} ${run.measure}: exit ${String(run.exitCode)}, errors ${JSON.stringify(run.result?.errors ?? {})}`,
            ),
    ),
  );
  const unevenOrBroken = checks.filter((check) => check.errors > 0 || check.established !== DISTRIBUTION_CONNECTIONS);
  for (const check of unevenOrBroken)
    failed.push(`${check.name} distribution: ${String(check.errors)} errors, ${String(check.established)} connections`);
  const logLines = gatehouseLogSummary(logFiles);
  if (logLines.length > 0) console.log(`\nGatehouse logs (every start appends):\n${logLines.join("\n")}`);
  if (failed.length > 0) console.log(`\nProblems:\n${failed.map((line) => `  ${line}`).join("\n")}`);
  return { failed: failed.length > 0, raw: { counts, scheds, variants, measures, runs, distribution: checks } };
}
