// Starts the real `gatehouse` CLI (packages/server/dist/cli.js) on a generated config for the
// login benchmark, and stops it.
import { spawn } from "node:child_process";
import { openSync, closeSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { repoRoot } from "../socksbench.js";

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * @param {{tmpDir: string, name: string, auth: object, cpu?: number}} options `auth` is the
 *   config's whole `auth:` block. The config is written as JSON (valid YAML) into tmpDir.
 */
export async function startGatehouse({ tmpDir, name, auth, cpu }) {
  const port = await freePort();
  const config = {
    listeners: [{ listen: `127.0.0.1:${port}`, require_auth: true, handshake_timeout: "30s" }],
    auth,
    log: { level: "warn", format: "json" },
  };
  const configFile = join(tmpDir, `gatehouse-${name}.yaml`);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = join(tmpDir, `gatehouse-${name}.log`);
  const logFd = openSync(logFile, "a");
  const cli = join(repoRoot, "packages", "server", "dist", "cli.js");
  const argv = [process.execPath, cli, "--config", configFile];
  const [command, ...args] = cpu === undefined ? argv : ["taskset", "-c", String(cpu), ...argv];
  const child = spawn(command, args, { stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`gatehouse exited with ${child.exitCode} during startup; see ${logFile}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`gatehouse did not listen within 20 s; see ${logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    proxy: { host: "127.0.0.1", port },
    logFile,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
