// One socksbench measurement against one subject: connrate, throughput (1 / 50 tunnels), idle.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { sampleMemory, processTree, statFields } from "./procs.js";
import { runSocksbench } from "./socksbench.js";
import { runUdpLoad } from "./udp.js";

export const PROFILES = {
  full: {
    connrate: { c: 50, t: 10, W: 2 },
    throughput: { t: 8 },
    idle: { n: 10000, H: 10 },
    udp: { t: 8, W: 1, window: 32, size: 64 },
  },
  quick: {
    connrate: { c: 50, t: 2, W: 1 },
    throughput: { t: 2 },
    idle: { n: 1000, H: 2 },
    udp: { t: 2, W: 0.5, window: 32, size: 64 },
  },
};

/** Measurement order: idle first, so each proxy's "before" RSS is its fresh baseline. */
export const MEASURES = ["idle", "connrate", "tp1", "tp50", "udp"];

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/**
 * CPU seconds (user, system) and minor page faults so far of a process tree, including its
 * reaped children. Faults matter for relays: memory the kernel must hand out afresh (and zero)
 * costs system time per byte, and can make a relay's speed depend on its allocator's luck.
 */
export function cpuSeconds(pid) {
  let user = 0;
  let sys = 0;
  let minorFaults = 0;
  for (const proc of processTree(pid)) {
    const fields = statFields(proc.pid);
    if (fields === undefined) continue; // exited
    minorFaults += Number(fields[7]) + Number(fields[8]);
    user += Number(fields[11]) + Number(fields[13]);
    sys += Number(fields[12]) + Number(fields[14]);
  }
  return { user: user / CLK_TCK, sys: sys / CLK_TCK, minorFaults };
}

/** CPU seconds (user + system) of the process itself, without its children (a cluster primary's own). */
export function ownCpuSeconds(pid) {
  const fields = statFields(pid);
  return fields === undefined ? 0 : (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Per-CPU jiffies from /proc/stat: busy (user, nice, system, irq, softirq), idle (+iowait), stolen. */
export function cpuCounters() {
  const counters = {};
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (!match) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = match[2].split(" ").map(Number);
    counters[match[1]] = { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
  }
  return counters;
}

/** Seconds busy / stolen and busy share for each CPU between two cpuCounters() readings. */
export function cpuUse(before, after) {
  const use = {};
  for (const [cpu, end] of Object.entries(after)) {
    const start = before[cpu];
    const busy = end.busy - start.busy;
    const total = busy + end.idle - start.idle + end.steal - start.steal;
    use[cpu] = { busyS: busy / CLK_TCK, stealS: (end.steal - start.steal) / CLK_TCK, busyShare: busy / (total || 1) };
  }
  return use;
}

function target(subject, proxy) {
  const args = subject.direct ? ["--direct"] : ["-x", `127.0.0.1:${String(proxy.port)}`];
  if (subject.auth) args.push("-u", subject.auth.user, "-P", subject.auth.password);
  return args;
}

/** `{ c: 50, t: 10 }` → ["-c", "50", "-t", "10"] */
function flags(options) {
  return Object.entries(options).flatMap(([key, value]) => [`-${key}`, String(value)]);
}

/** socksbench arguments and a deadline (seconds) for one measurement. */
function plan(measure, profile, env, subject, proxy) {
  const common = [...target(subject, proxy), "-L", `${subject.name}/${measure}`];
  const { connrate, throughput, idle } = profile;
  switch (measure) {
    case "connrate": // echod -C 64 closes first, socksbench -C waits for it: no TIME_WAIT on client ports
      return {
        args: ["-m", "connrate", "-d", env.echodClose.dest, "-C", ...flags({ s: 64, ...connrate }), ...common],
        deadlineS: connrate.t + connrate.W + 45,
      };
    case "tp1":
    case "tp50": {
      const tunnels = measure === "tp1" ? 1 : 50;
      return {
        args: ["-m", "throughput", "-d", env.echod.dest, ...flags({ n: tunnels, ...throughput }), ...common],
        deadlineS: throughput.t + 60,
      };
    }
    case "idle":
      return {
        args: ["-m", "idle", "-d", env.echod.dest, ...flags({ n: env.idleTunnels, H: idle.H, c: 50 }), ...common],
        deadlineS: idle.H + 90 + env.idleTunnels / 100,
      };
    default:
      throw new Error(`unknown measure ${measure}`);
  }
}

/** RSS/Pss samples of the proxy while idle tunnels are held (from the marker to the hold's end). */
function sampleDuringHold(proxy, holdS) {
  return async () => {
    const samples = [];
    const started = Date.now();
    await sleep(500);
    let collected = proxy.collectSignal === undefined;
    do {
      samples.push({ t_ms: Date.now() - started, ...sampleMemory(proxy.record), collected });
      if (!collected && Date.now() - started >= (holdS / 2) * 1000) {
        process.kill(proxy.record.pid, proxy.collectSignal);
        collected = true;
      }
      await sleep(1000);
    } while (Date.now() - started < (holdS - 0.7) * 1000);
    return samples;
  };
}

/** Runs one measurement; returns a record with the figures, or an error description. */
export async function measure(name, { subject, proxy, env, profile }) {
  if (name === "udp") return measureUdp({ subject, proxy, env, profile });
  const { args, deadlineS } = plan(name, profile, env, subject, proxy);
  let before;
  if (name === "idle" && proxy) {
    await sleep(1000);
    before = sampleMemory(proxy.record);
  }
  const cpuBefore = proxy ? cpuSeconds(proxy.record.pid) : undefined;
  const countersBefore = cpuCounters();
  const run = await runSocksbench({
    socksbench: env.tools.socksbench,
    cpu: env.loadCpu,
    nofile: env.nofile,
    args,
    deadlineS,
    onEstablished: name === "idle" && proxy ? sampleDuringHold(proxy, profile.idle.H) : undefined,
  });
  // How busy each CPU was (is the proxy's CPU or the load generator's the limit?), and stolen time.
  const out = { measure: name, ...run, cpus: cpuUse(countersBefore, cpuCounters()) };
  if (proxy) {
    const cpuAfter = cpuSeconds(proxy.record.pid);
    out.proxyCpu = { userS: cpuAfter.user - cpuBefore.user, sysS: cpuAfter.sys - cpuBefore.sys };
  }
  if (proxy?.record.exited) out.proxyExited = String(proxy.record.exit);
  const r = run.result;
  out.ok = run.exitCode === 0 && r !== undefined && !run.killedByDeadline && !out.proxyExited;
  if (r === undefined) return out;
  const cpuS = out.proxyCpu === undefined ? undefined : out.proxyCpu.userS + out.proxyCpu.sysS;
  if (name === "connrate") {
    out.connPerS = r.conn_per_s;
    // The proxy's CPU over the whole run (warm-up included) per connection it completed.
    if (cpuS !== undefined && r.completed_incl_warmup > 0) out.cpuUsPerConn = (cpuS * 1e6) / r.completed_incl_warmup;
    // socksbench leaves latencies out when nothing completed (a proxy stuck or refusing).
    if (r.latency_us !== undefined) {
      out.p50Ms = r.latency_us.p50 / 1000;
      out.p99Ms = r.latency_us.p99 / 1000;
    }
  } else if (name.startsWith("tp")) {
    out.mbPerS = r.mb_per_s;
    // The proxy moves every verified byte twice (to the echo server and back).
    if (cpuS !== undefined && r.bytes > 0) out.cpuSPerGB = cpuS / ((2 * r.bytes) / 1e9);
  } else if (name === "idle" && before) {
    const samples = run.hookResults[0] ?? [];
    const multi = samples.some((s) => s.processes > 1) || before.processes > 1;
    const key = multi ? "pssKiB" : "rssKiB";
    const peak = Math.max(...samples.map((s) => s[key]));
    out.memory = { metric: multi ? "Pss (sum over processes)" : "VmRSS", before, samples };
    if (samples.length > 0 && r.established > 0) out.kibPerTunnel = (peak - before[key]) / r.established;
    // After the full collection (subjects that have one): the last sample, garbage gone.
    const last = samples.at(-1);
    if (proxy.collectSignal !== undefined && last?.collected && r.established > 0) {
      out.kibPerTunnelCollected = (last[key] - before[key]) / r.established;
    }
  }
  return out;
}

/**
 * UDP ASSOCIATE: datagrams relayed per second (a closed loop of 64-byte echoes, bench/udp-load.js
 * on the load CPU) and the proxy's CPU per datagram relayed (two per round trip), from /proc.
 */
async function measureUdp({ subject, proxy, env, profile }) {
  const cpuBefore = proxy ? cpuSeconds(proxy.record.pid) : undefined;
  const countersBefore = cpuCounters();
  const run = await runUdpLoad({ cpu: env.loadCpu, proxyPort: proxy?.port, options: profile.udp, subject });
  const out = { measure: "udp", ...run, cpus: cpuUse(countersBefore, cpuCounters()) };
  if (proxy) {
    const cpuAfter = cpuSeconds(proxy.record.pid);
    out.proxyCpu = { userS: cpuAfter.user - cpuBefore.user, sysS: cpuAfter.sys - cpuBefore.sys };
  }
  if (proxy?.record.exited) out.proxyExited = String(proxy.record.exit);
  const r = run.result;
  out.ok = run.exitCode === 0 && r !== undefined && !run.killedByDeadline && !out.proxyExited;
  if (r === undefined) return out;
  out.datagramsPerS = r.datagrams_relayed_per_s;
  // The proxy's CPU over the whole run (warm-up and association included) per datagram relayed.
  const cpuS = out.proxyCpu === undefined ? undefined : out.proxyCpu.userS + out.proxyCpu.sysS;
  if (cpuS !== undefined && r.received > 0) out.cpuUsPerDatagram = (cpuS * 1e6) / (2 * r.received);
  return out;
}
