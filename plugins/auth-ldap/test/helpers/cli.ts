import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** plugins/auth-ldap/dist-test/helpers → the repository root. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const CLI = join(REPO_ROOT, "packages", "server", "dist", "cli.js");

export interface RunningGatehouse {
  readonly port: number;
  stdout(): string;
  stop(): Promise<number | null>;
}

/** Runs the real `gatehouse --config FILE` and waits for its `started` line. */
export function startGatehouse(configFile: string, env: NodeJS.ProcessEnv): Promise<RunningGatehouse> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, "--config", configFile], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let started = false;
    const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      reject(new Error(`gatehouse did not start; stdout: ${stdout}; stderr: ${stderr}`));
    }, 20_000);
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      stdout += data;
      if (started) return;
      const line = stdout.split("\n").find((text) => text.includes('"event":"started"'));
      if (line === undefined) return;
      started = true;
      clearTimeout(timer);
      const listener = (JSON.parse(line) as { listeners: string[] }).listeners[0] ?? "";
      resolvePromise({
        port: Number(listener.slice(listener.lastIndexOf(":") + 1)),
        stdout: () => stdout,
        async stop() {
          if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
          return exited;
        },
      });
    });
    void exited.then((code) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`gatehouse exited with ${String(code)} before starting; stdout: ${stdout}; stderr: ${stderr}`));
    });
  });
}
