import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built `gatehouse` executable of packages/server (from dist-test/helpers/). */
export const CLI = fileURLToPath(new URL("../../../../packages/server/dist/cli.js", import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `gatehouse ARGS` with `input` on stdin, to completion. */
export function runCli(args: readonly string[], input = ""): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (data: string) => (stdout += data));
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gatehouse ${args.join(" ")} did not exit; stderr: ${stderr}`));
    }, 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

export interface RunningGatehouse {
  readonly port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `gatehouse --config FILE` and waits for its `started` line (the first listener's port). */
export function startGatehouse(configFile: string): Promise<RunningGatehouse> {
  const child: ChildProcess = spawn("setpriv", ["--pdeathsig", "TERM", process.execPath, CLI, "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gatehouse did not start: ${output}`));
    }, 20_000);
    child.stderr?.setEncoding("utf8").on("data", (data: string) => (output += data));
    child.stdout?.setEncoding("utf8").on("data", (data: string) => {
      output += data;
      const line = output.split("\n").find((text) => text.includes('"event":"started"'));
      if (line === undefined) return;
      clearTimeout(timer);
      const listen = (JSON.parse(line) as { listeners: string[] }).listeners[0] ?? "";
      resolve({
        port: Number(listen.slice(listen.lastIndexOf(":") + 1)),
        output: () => output,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((done) => child.once("exit", done));
          child.kill("SIGTERM");
          await exited;
        },
      });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gatehouse exited with ${String(code)}: ${output}`));
    });
  });
}

/** curl through the SOCKS5 proxy; exit 97 means the proxy refused the credentials. */
export function curl(
  proxyPort: number,
  credentials: string,
  url: string,
): Promise<{ exitCode: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      [
        "--silent",
        "--max-time",
        "15",
        "--socks5-hostname",
        `127.0.0.1:${String(proxyPort)}`,
        "--proxy-user",
        credentials,
        url,
      ],
      (error, stdout) => {
        resolve({ exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout });
      },
    );
  });
}
