#!/usr/bin/env node
// `npm run bench:starts`: relay throughput over several *fresh process starts* of each subject,
// so that a relay whose speed depends on luck at start-up shows as a spread (min/median/max),
// never as one number. Each start: launch the subject pinned to CPU 0, one socksbench
// throughput run (load on CPU 1), read the subject's CPU time and minor page faults from
// /proc, stop it. Subjects alternate start by start so peers are measured close in time.
//
//   node bench/starts.js [--starts N] [--only gatehouse,pipe,dante,...] [--shapes tp50,tp1,tp4k] [--seconds S]
import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { cpuCounters, cpuSeconds, cpuUse } from "./measures.js";
import { childFdLimit, installCleanupHandlers, stopProcess } from "./procs.js";
import { spread, table } from "./report.js";
import { buildTools, runSocksbench, startEchod } from "./socksbench.js";
import { missingBinary, selectSubjects } from "./subjects.js";

const PROXY_CPU = 0;
const LOAD_CPU = 1;

/** The traffic shapes of issue 16, as socksbench throughput arguments. */
const SHAPES = {
  tp50: { tunnels: 50, size: 16384, window: 262144, what: "50 tunnels, 16 KiB writes, 256 KiB in flight each" },
  tp1: { tunnels: 1, size: 16384, window: 262144, what: "1 tunnel, 16 KiB writes, 256 KiB in flight" },
  tp4k: { tunnels: 50, size: 4096, window: 16384, what: "50 tunnels, 4 KiB writes, 16 KiB in flight each" },
};

function parseOptions() {
  const { values } = parseArgs({
    options: {
      starts: { type: "string", default: "5" },
      only: { type: "string", default: "gatehouse,gatehouse-js,pipe,dante" },
      shapes: { type: "string", default: "tp50,tp1,tp4k" },
      seconds: { type: "string", default: "5" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm run bench:starts -- [--starts N (default 5)] [--only SUBJECTS (default gatehouse,gatehouse-js,pipe,dante)]\n" +
        `       [--shapes ${Object.keys(SHAPES).join(",")}] [--seconds S per run (default 5)]`,
    );
    process.exit(0);
  }
  const starts = Number(values.starts);
  if (!Number.isInteger(starts) || starts < 1 || starts > 50) throw new Error("--starts: 1 to 50");
  const seconds = Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 60) throw new Error("--seconds: 1 to 60");
  const shapes = values.shapes.split(",").map((shape) => shape.trim());
  const unknown = shapes.filter((shape) => !(shape in SHAPES));
  if (unknown.length > 0) throw new Error(`--shapes: unknown ${unknown.join(", ")}`);
  // --only gatehouse means the plain gatehouse subject here (not -auth / -policy).
  const subjects = selectSubjects(values.only).filter(
    (subject) => !subject.direct && (values.only.split(",").includes(subject.name) || !subject.name.includes("-")),
  );
  return { starts, seconds, shapes, subjects };
}

/** One fresh start of `subject`, one throughput run of `shape`; the figures or why it failed. */
async function oneStart(subject, shape, ctx, env, seconds) {
  const proxy = await subject.start(ctx);
  try {
    await sleep(300); // let start-up work (JIT, module loading) finish before the window
    const before = cpuSeconds(proxy.record.pid);
    const counters = cpuCounters();
    const { tunnels, size, window } = SHAPES[shape];
    const run = await runSocksbench({
      socksbench: env.tools.socksbench,
      cpu: LOAD_CPU,
      nofile: ctx.nofile,
      args: ["-m", "throughput", "-x", `127.0.0.1:${String(proxy.port)}`, "-d", env.echod.dest]
        .concat(["-n", String(tunnels), "-s", String(size), "-w", String(window), "-t", String(seconds)])
        .concat(["-L", `${subject.name}/${shape}`]),
      deadlineS: seconds + 60,
    });
    const after = cpuSeconds(proxy.record.pid);
    const use = cpuUse(counters, cpuCounters());
    const result = run.result;
    if (run.exitCode !== 0 || result === undefined || result.errors_total > 0) {
      return { ok: false, why: `socksbench exit ${String(run.exitCode)}: ${run.stderrTail.slice(-2).join(" | ")}` };
    }
    // The proxy moves every verified byte twice (to the echo server and back).
    const relayedGB = (2 * result.bytes) / 1e9;
    const cpuS = after.user - before.user + (after.sys - before.sys);
    return {
      ok: true,
      mbPerS: result.mb_per_s,
      cpuSPerGB: cpuS / relayedGB,
      sysShare: (after.sys - before.sys) / (cpuS || 1),
      faultsPerMB: (after.minorFaults - before.minorFaults) / (relayedGB * 1000),
      stalled: result.stalled_tunnels,
      loadCpuBusy: use[String(LOAD_CPU)]?.busyShare ?? 0,
    };
  } finally {
    await stopProcess(proxy.record);
  }
}

async function main() {
  const options = parseOptions();
  installCleanupHandlers();
  const tmp = mkdtempSync(join(tmpdir(), "gatehouse-bench-starts-"));
  const tools = buildTools(tmp);
  const nofile = childFdLimit();
  const ctx = { tmp, cpu: PROXY_CPU, nofile, logLevel: "silent", cpuProf: false, profDir: join(tmp, "cpu-prof") };
  const load = loadavg()[0];
  console.log(
    `bench:starts: ${String(options.starts)} fresh starts per subject and shape, ${String(options.seconds)} s each; ` +
      `proxies on CPU ${String(PROXY_CPU)}, load on CPU ${String(LOAD_CPU)}; load average ${load.toFixed(2)}`,
  );
  if (load > 0.5) console.log("WARNING: the machine is not idle (load average > 0.5): figures will be noisy.");
  const subjects = options.subjects.filter((subject) => {
    const missing = missingBinary(subject);
    if (missing) console.log(`skipping ${subject.name}: ${missing}`);
    return !missing;
  });
  const echod = await startEchod({
    echod: tools.echod,
    cpu: LOAD_CPU,
    nofile,
    maxSeconds: 3600,
    logFile: join(tmp, "echod.log"),
  });
  const env = { tools, echod };
  const runs = {};
  for (const shape of options.shapes) {
    console.log(`\n[${shape}: ${SHAPES[shape].what}]`);
    for (let start = 1; start <= options.starts; start++) {
      for (const subject of subjects) {
        const run = await oneStart(subject, shape, ctx, env, options.seconds);
        (runs[`${subject.name}/${shape}`] ??= []).push(run);
        console.log(
          `  start ${String(start)} ${subject.name.padEnd(10)} ` +
            (run.ok
              ? `${run.mbPerS.toFixed(0).padStart(5)} MB/s  ${run.cpuSPerGB.toFixed(2)} s CPU/GB  ` +
                `${run.faultsPerMB.toFixed(1)} faults/MB  sys ${(100 * run.sysShare).toFixed(0)} %` +
                (run.loadCpuBusy > 0.97 ? "  (load CPU saturated)" : "")
              : `FAILED: ${run.why}`),
        );
      }
    }
  }
  await stopProcess(echod.record);

  console.log(
    "\nmin / median / max over fresh starts (MB/s = verified echo bytes; CPU and faults per GB/MB the proxy relayed, both directions)",
  );
  const rows = [["subject", "shape", "MB/s", "CPU s/GB", "faults/MB", "failed"]];
  for (const shape of options.shapes) {
    for (const subject of subjects) {
      const list = runs[`${subject.name}/${shape}`] ?? [];
      rows.push([
        subject.name,
        shape,
        spread(list, "mbPerS", 0).text,
        spread(list, "cpuSPerGB", 2).text,
        spread(list, "faultsPerMB", 1).text,
        String(list.filter((run) => !run.ok).length),
      ]);
    }
  }
  console.log(table(rows));
  const gatehouse = subjects.find((subject) => subject.name === "gatehouse");
  const peers = subjects.filter((subject) => subject !== gatehouse);
  if (gatehouse !== undefined && peers.length > 0) {
    console.log("\nRatios gatehouse / peer (of medians, and gatehouse's worst start / peer's median)");
    const ratioRows = [["peer", "shape", "MB/s median", "MB/s worst", "CPU/GB median"]];
    for (const shape of options.shapes) {
      const own = runs[`gatehouse/${shape}`] ?? [];
      const worst = Math.min(...own.filter((run) => run.ok).map((run) => run.mbPerS));
      for (const peer of peers) {
        const theirs = runs[`${peer.name}/${shape}`] ?? [];
        const mb = spread(theirs, "mbPerS", 0).median;
        const cpu = spread(theirs, "cpuSPerGB", 2).median;
        const ratio = (a, b) =>
          a === undefined || b === undefined || !Number.isFinite(a) ? "—" : `${(a / b).toFixed(2)}x`;
        ratioRows.push([
          peer.name,
          shape,
          ratio(spread(own, "mbPerS", 0).median, mb),
          ratio(worst, mb),
          ratio(spread(own, "cpuSPerGB", 2).median, cpu),
        ]);
      }
    }
    console.log(table(ratioRows));
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
