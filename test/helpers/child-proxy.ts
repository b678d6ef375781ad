import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ListenerOptions } from "@gatehouse-proxy/core/engine";
import type { RelayKind } from "./relays.js";

const fixture = fileURLToPath(new URL("./proxy-child-main.js", import.meta.url));
const blackholeFixture = fileURLToPath(new URL("./blackhole-main.js", import.meta.url));

export type LogLine = Record<string, unknown>;

export interface ChildProxy {
  readonly pid: number;
  readonly port: number;
  readonly ports: number[];
  /** Every JSON line the proxy logged so far. */
  readonly logs: LogLine[];
  readonly stderr: () => string;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** VmRSS of the proxy process, in KiB (from /proc/PID/status). */
  rssKiB(): number;
  /** Open file descriptors of the proxy process. */
  fdCount(): number;
  stop(): Promise<void>;
}

export interface ChildProxyOptions {
  readonly listeners?: readonly Partial<ListenerOptions>[];
  /** A command the node process is run under, e.g. ["prlimit", "--nofile=40:40", "--"]; it must exec node. */
  readonly wrapper?: readonly string[];
  readonly startTimeoutMs?: number;
  /** Which relay carries the tunnels (default js). */
  readonly relay?: RelayKind;
}

/** Runs the engine in a child process (see proxy-child-main.ts) on 127.0.0.1 random ports. */
export async function startChildProxy(options: ChildProxyOptions = {}): Promise<ChildProxy> {
  const listeners = (options.listeners ?? [{}]).map((listener) => ({ listen: "127.0.0.1:0", ...listener }));
  const argv = [
    ...(options.wrapper ?? []),
    process.execPath,
    fixture,
    JSON.stringify({ listeners, relay: options.relay ?? "js" }),
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  let partial = "";
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ event: "unparsed", line });
      }
    }
    for (const wake of [...waiters]) wake();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", () => {
    for (const wake of [...waiters]) wake();
  });

  const waitForLog = async (predicate: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = logs.find(predicate);
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `proxy child: expected log line not seen (exit ${String(child.exitCode)}); stderr: ${stderr.slice(-2000)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, remaining);
        waiters.add(wake);
      });
    }
  };

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  };

  let ready: LogLine;
  try {
    ready = await waitForLog((line) => line.event === "fixture_ready", options.startTimeoutMs ?? 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  const pid = child.pid!;
  const ports = ready.ports as number[];
  return {
    pid,
    port: ports[0]!,
    ports,
    logs,
    stderr: () => stderr,
    waitForLog,
    rssKiB: () => readRssKiB(pid),
    fdCount: () => readdirSync(`/proc/${pid}/fd`).length,
    stop,
  };
}

export function readRssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

export interface Blackhole {
  readonly port: number;
  stop(): Promise<void>;
}

/** A destination whose TCP handshake never completes once its accept queue is full (see blackhole-main.ts). */
export async function startBlackhole(holdMs = 20_000): Promise<Blackhole> {
  const child: ChildProcess = spawn(process.execPath, [blackholeFixture, String(holdMs)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("\n")) resolve(text);
    });
    child.once("exit", (code) => reject(new Error(`blackhole exited early (${String(code)})`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return {
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
