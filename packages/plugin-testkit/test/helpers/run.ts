import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** packages/plugin-testkit/dist-test/helpers → the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const CLI = join(REPO_ROOT, "packages", "server", "dist", "cli.js");
export const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without NODE_TEST_CONTEXT, so a child `node --test` prints its own report. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env["NODE_TEST_CONTEXT"];
  return env;
}

/** Runs a command to completion (never throws on a non-zero exit). */
export function run(command: string, args: readonly string[], cwd: string, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((done) => {
    execFile(
      command,
      [...args],
      { cwd, env: childEnv(), timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

export interface Gatehouse {
  readonly child: ChildProcess;
  readonly port: number;
  stdout(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real gatehouse CLI (dies with this process) and waits for its `started` event.
 * `cli` is the script to run: the workspace's build unless an installed copy is named.
 */
export function startGatehouse(args: readonly string[], cwd: string, cli = CLI): Promise<Gatehouse> {
  return new Promise((resolveStart, reject) => {
    const child = spawn("setpriv", ["--pdeathsig", "TERM", process.execPath, cli, ...args], {
      cwd,
      env: childEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const exited = new Promise<void>((done) => child.on("close", () => done()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gatehouse did not start; stdout: ${stdout}; stderr: ${stderr}`));
    }, 30_000);
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      stdout += data;
      const line = stdout.split("\n").find((text) => text.includes('"event":"started"'));
      if (line === undefined) return;
      clearTimeout(timer);
      const listener = (JSON.parse(line) as { listeners: string[] }).listeners[0]!;
      resolveStart({
        child,
        port: Number(listener.slice(listener.lastIndexOf(":") + 1)),
        stdout: () => stdout,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`gatehouse exited before starting; stdout: ${stdout}; stderr: ${stderr}`));
    });
  });
}

/** A local HTTP server answering `hello <path>`. */
export async function startHttp(): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => response.end(`hello ${request.url ?? ""}`));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return { server, port: (server.address() as AddressInfo).port };
}

/** The real curl through a SOCKS5 proxy with credentials; exit 97 when the proxy refuses. */
export function curlThrough(
  proxyPort: number,
  url: string,
  user: string,
): Promise<{ exitCode: number; stdout: string }> {
  return new Promise((done) => {
    execFile(
      "curl",
      [
        "--silent",
        "--max-time",
        "15",
        "--socks5-hostname",
        `127.0.0.1:${String(proxyPort)}`,
        "--proxy-user",
        user,
        url,
      ],
      (error, stdout) =>
        done({ exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout }),
    );
  });
}
