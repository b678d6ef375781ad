// Child processes of the benchmark: spawned with a CPU pin and an fd limit, tracked by PID,
// and always ended by PID (with their descendants) — on success, failure, Ctrl-C or exit.
import { spawn, spawnSync } from "node:child_process";
import { openSync, closeSync, readFileSync, readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** pid → { name, pid, exited, exit, child, known } for every process we started and not yet stopped. */
const tracked = new Map();

/** /proc/PID/stat fields after the command name: [state, ppid, ..., starttime (index 19)]. */
export function statFields(pid) {
  try {
    const text = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

function startTime(pid) {
  return statFields(pid)?.[19];
}

/** The pid and every live descendant, each with its start time (to guard against PID reuse). */
export function processTree(rootPid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (fields === undefined) continue;
    const ppid = Number(fields[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push({ pid: Number(entry), starttime: fields[19] });
  }
  const root = { pid: rootPid, starttime: startTime(rootPid) };
  if (root.starttime === undefined) return [];
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i].pid) ?? []));
  return out;
}

function signal(proc, sig) {
  if (startTime(proc.pid) !== proc.starttime) return; // gone, or the PID was reused
  try {
    process.kill(proc.pid, sig);
  } catch {
    // already exited
  }
}

/**
 * Spawns `argv` pinned to `cpu` (taskset; a CPU list such as "0-1" works too) with the fd limit
 * set (prlimit; both exec, so the PID is the program's). stdout / stderr are pipes when asked,
 * otherwise they go to `logFile`. `env` adds variables to the benchmark's environment.
 */
export function startProcess({ name, argv, cpu, nofile, logFile, env, pipeStdout = false, pipeStderr = false }) {
  const wrapped = [
    ...(nofile ? ["prlimit", `--nofile=${nofile}:${nofile}`] : []),
    "taskset",
    "-c",
    String(cpu),
    ...argv,
  ];
  const fd = pipeStdout && pipeStderr ? undefined : openSync(logFile, "a");
  const child = spawn(wrapped[0], wrapped.slice(1), {
    stdio: ["ignore", pipeStdout ? "pipe" : fd, pipeStderr ? "pipe" : fd],
    ...(env !== undefined && { env: { ...process.env, ...env } }),
  });
  if (fd !== undefined) closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${wrapped[0]}`);
  const record = { name, pid: child.pid, exited: false, exit: undefined, child, known: new Map() };
  tracked.set(child.pid, record);
  knownTree(record);
  child.on("exit", (code, sig) => {
    record.exited = true;
    record.exit = sig ?? code;
  });
  child.on("error", () => {
    record.exited = true;
  });
  return record;
}

/**
 * Every process of the record's tree seen so far (children of a forking server outlive a
 * dead parent: they are re-parented, so they are remembered here), refreshed now.
 */
export function knownTree(record) {
  for (const proc of processTree(record.pid)) record.known.set(proc.pid, proc);
  return [...record.known.values()];
}

/** SIGTERM the process, then SIGKILL whatever of its tree is left after `graceMs`. */
export async function stopProcess(record, graceMs = 3000) {
  const tree = knownTree(record);
  if (!record.exited && tree.length > 0) {
    signal(record.known.get(record.pid) ?? tree[0], "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (!record.exited && Date.now() < deadline) await sleep(50);
    await sleep(100); // let children notice their parent is gone
  }
  for (const proc of knownTree(record)) signal(proc, "SIGKILL");
  tracked.delete(record.pid);
}

/** Stops tracking a process that has exited by itself (and left no children behind). */
export function forget(record) {
  tracked.delete(record.pid);
}

/** Synchronous last resort (exit / signal handlers): SIGKILL every tracked tree. */
export function killAllSync() {
  for (const record of tracked.values()) {
    for (const proc of knownTree(record)) signal(proc, "SIGKILL");
  }
  tracked.clear();
}

/** Sum of VmRSS and of Pss (KiB) over the record's live process tree, and its process count. */
export function sampleMemory(record) {
  let rssKiB = 0;
  let pssKiB = 0;
  const tree = processTree(record.pid);
  for (const proc of tree) record.known.set(proc.pid, proc);
  for (const { pid } of tree) {
    try {
      const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
      rssKiB += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const rollup = readFileSync(`/proc/${String(pid)}/smaps_rollup`, "utf8");
      pssKiB += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    } catch {
      // exited between listing and reading
    }
  }
  return { rssKiB, pssKiB, processes: tree.length };
}

/** The fd limit children get: 65536 if prlimit may raise it that far, else our hard limit. */
export function childFdLimit(wanted = 65536) {
  if (spawnSync("prlimit", [`--nofile=${wanted}:${wanted}`, "true"]).status === 0) return wanted;
  const hard = spawnSync("bash", ["-c", "ulimit -Hn"], { encoding: "utf8" }).stdout.trim();
  return hard === "unlimited" ? wanted : Number(hard);
}

export function haveCommand(command) {
  return spawnSync("bash", ["-c", `command -v ${command}`]).status === 0;
}

let handlersInstalled = false;
export function installCleanupHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", killAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping every process started by the benchmark\n`);
      killAllSync();
      process.exit(130);
    });
  }
}
