import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { CLI, REPO_ROOT } from "./paths.js";

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion (for commands that exit by themselves). */
export function runCli(
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (data: string) => (stdout += data));
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      reject(new Error(`gatehouse ${args.join(" ")} did not exit; stdout: ${stdout}; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** Bound listener ports, in config order. */
  readonly ports: number[];
  /** The admin listener's port, when the config has `admin:`. */
  readonly adminPort: number | undefined;
  stdout(): string;
  /** Resolves with the first stdout JSON line (after `from` characters) whose `event` is `event`. */
  waitForEvent(event: string, from?: number, timeoutMs?: number): Promise<Record<string, unknown>>;
  /**
   * Resolves with the first `count` lines of `event` after `from`, once that many are written: a
   * client can see the proxy's reply before the proxy's log line is on stdout.
   */
  waitForEvents(event: string, count: number, from?: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  stderr(): string;
  /** Sends a signal by PID and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running CLI and waits for its `started` log line. */
export function startCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: {
    /** A command node is run under, e.g. ["prlimit", "--nofile=256:256", "--"]; it must exec node (same PID). */
    readonly wrapper?: readonly string[];
    /** Options for node itself, before the CLI's path (e.g. GC_PROBE_NODE_ARGS). */
    readonly nodeArgs?: readonly string[];
  } = {},
): Promise<RunningCli> {
  return new Promise((resolve, reject) => {
    const argv = [...(options.wrapper ?? []), process.execPath, ...(options.nodeArgs ?? []), CLI, ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let started = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on("close", (code, signal) => done({ code, signal })),
    );
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      reject(new Error(`gatehouse did not start; stdout: ${stdout}; stderr: ${stderr}`));
    }, 20000);
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      stdout += data;
      if (started) return;
      for (const line of stdout.split("\n")) {
        if (!line.includes('"event":"started"')) continue;
        started = true;
        clearTimeout(timer);
        const record = JSON.parse(line) as { listeners: string[]; admin?: string };
        const ports = record.listeners.map(portOf);
        const waitForEvents = async (
          event: string,
          count: number,
          from = 0,
          timeoutMs = 10000,
        ): Promise<Record<string, unknown>[]> => {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const found = stdout
              .slice(from)
              .split("\n")
              .filter((text) => text.includes(`"event":"${event}"`));
            if (found.length >= count) {
              return found.slice(0, count).map((text) => JSON.parse(text) as Record<string, unknown>);
            }
            if (Date.now() > deadline) {
              throw new Error(
                `${String(found.length)} of ${String(count)} ${event} events; stdout: ${stdout}; stderr: ${stderr}`,
              );
            }
            await new Promise((done) => setTimeout(done, 25));
          }
        };
        resolve({
          child,
          ports,
          adminPort: record.admin === undefined ? undefined : portOf(record.admin),
          stdout: () => stdout,
          async waitForEvent(event, from = 0, timeoutMs = 10000) {
            return (await waitForEvents(event, 1, from, timeoutMs))[0]!;
          },
          waitForEvents,
          stderr: () => stderr,
          async stop(signal = "SIGTERM") {
            if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
              process.kill(child.pid, signal);
            }
            return exited;
          },
        });
        return;
      }
    });
    void exited.then(({ code }) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`gatehouse exited with ${String(code)} before starting; stderr: ${stderr}`));
    });
  });
}

/** The port of `host:port` / `[v6]:port`. */
export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/** The parsed JSON lines of a running CLI's stdout (from offset `since`). */
export function lines(proxy: Pick<RunningCli, "stdout">, since = 0): Record<string, unknown>[] {
  return proxy
    .stdout()
    .slice(since)
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
