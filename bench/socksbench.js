// Building and driving ../shared/socksbench: the echod destination and socksbench runs.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "node:net";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { forget, startProcess, stopProcess } from "./procs.js";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The socksbench source folder: $SOCKSBENCH_DIR, else ../shared/socksbench next to the repo. */
export function socksbenchDir() {
  return process.env.SOCKSBENCH_DIR ?? resolve(repoRoot, "..", "shared", "socksbench");
}

/** Builds socksbench and echod into `outDir`; throws with a clear message when it cannot. */
export function buildTools(outDir) {
  const dir = socksbenchDir();
  const script = join(dir, "build.sh");
  if (!existsSync(script)) {
    throw new Error(
      `socksbench sources not found: ${script} does not exist.\n` +
        "Set SOCKSBENCH_DIR to the folder holding socksbench's build.sh (default: ../shared/socksbench from the repo root).",
    );
  }
  const built = spawnSync("bash", [script, outDir], { encoding: "utf8" });
  if (built.status !== 0) throw new Error(`socksbench build failed (${script}):\n${built.stdout}${built.stderr}`);
  return { socksbench: join(outDir, "socksbench"), echod: join(outDir, "echod") };
}

/** Starts echod (port 0 = a free one) and returns its record and port, read from its first stderr line. */
export async function startEchod({ echod, cpu, nofile, logFile, closeAfter, maxSeconds }) {
  const argv = [echod, "-l", "127.0.0.1", "-p", "0", "-t", String(maxSeconds)];
  if (closeAfter !== undefined) argv.push("-C", String(closeAfter));
  const name = closeAfter === undefined ? "echod" : "echod-C";
  const record = startProcess({ name, argv, cpu, nofile, logFile, pipeStderr: true });
  const lines = createInterface({ input: record.child.stderr });
  const port = await new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not report its port`)), 5000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      const match = / on 127\.0\.0\.1:(\d+) /.exec(line);
      if (match) resolvePort(Number(match[1]));
      else reject(new Error(`${name}: unexpected first line: ${line}`));
    });
  });
  lines.on("line", () => {}); // keep draining (counters at exit)
  return { record, port, dest: `127.0.0.1:${String(port)}` };
}

/**
 * Runs socksbench once, pinned to `cpu`. Resolves with its JSON result, exit code and
 * stderr (never rejects for a failed run: the caller reports it). `onEstablished` is called
 * when idle mode prints its "# ESTABLISHED" marker; `deadlineS` bounds the whole run.
 */
export function runSocksbench({ socksbench, cpu, nofile, args, deadlineS, onEstablished }) {
  const argv = [socksbench, ...args];
  return new Promise((resolveRun) => {
    const startedAt = Date.now();
    const record = startProcess({ name: "socksbench", argv, cpu, nofile, pipeStdout: true, pipeStderr: true });
    const child = record.child;
    let stdout = "";
    const stderrLines = [];
    let killedByDeadline = false;
    const hooks = [];
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    createInterface({ input: child.stderr }).on("line", (line) => {
      stderrLines.push(line);
      if (line.startsWith("# ESTABLISHED") && onEstablished) hooks.push(onEstablished(line));
    });
    const timer = setTimeout(() => {
      killedByDeadline = true;
      void stopProcess(record, 1000);
    }, deadlineS * 1000);
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      forget(record);
      const jsonLine = stdout
        .split("\n")
        .reverse()
        .find((line) => line.startsWith("{"));
      let result;
      try {
        result = jsonLine === undefined ? undefined : JSON.parse(jsonLine);
      } catch {
        result = undefined;
      }
      void Promise.all(hooks).then((hookResults) =>
        resolveRun({
          argv: ["taskset", "-c", String(cpu), ...argv],
          wallS: (Date.now() - startedAt) / 1000,
          exitCode: code,
          signal: sig,
          killedByDeadline,
          result,
          hookResults,
          stderrTail: stderrLines.slice(-15),
        }),
      );
    });
  });
}

/** Waits until something accepts TCP connections on 127.0.0.1:port (or the process died). */
export async function waitForPort(port, record, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (record.exited) throw new Error(`${record.name} exited (${String(record.exit)}) before listening`);
    const ok = await new Promise((done) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        done(true);
      });
      socket.on("error", () => done(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${record.name} is not listening on port ${String(port)} after ${String(timeoutMs)} ms`);
}

export { stopProcess };
