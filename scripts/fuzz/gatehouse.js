// Starts the real `gatehouse` process (packages/server/dist/cli.js) on the fuzz config, with
// its log (stdout and stderr) in a file, and reads its figures from /proc.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { URL, fileURLToPath } from "node:url";
import { hashPassword } from "@gatehouse-proxy/core";
import { PROXY_PORT, USERNAME, policy } from "./topology.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const cli = join(repoRoot, "packages", "server", "dist", "cli.js");

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

export async function startGatehouse({ tmpDir, password, logLevel, dnsAddress }) {
  const config = {
    listeners: [
      {
        listen: `127.0.0.1:${String(PROXY_PORT)}`,
        name: "fuzz",
        require_auth: true,
        handshake_timeout: "3s",
        connect_timeout: "2s",
        idle_timeout: "10s",
        // UDP ASSOCIATE on: handshake cases that ask for it get an association, and the UDP phase uses one.
        udp: { enabled: true },
      },
    ],
    auth: {
      provider: "local",
      providers: {
        local: {
          use: "static",
          // ln=10 is the cheapest scrypt record the provider accepts: wrong passwords cost a KDF each.
          users: { [USERNAME]: { password: await hashPassword(password, { ln: 10 }), groups: ["fuzz"] } },
        },
      },
      // All cases come from 127.0.0.1: throttling would refuse every login after 10 failures.
      throttle: false,
    },
    policy: policy(),
    dns: { servers: [dnsAddress], timeout: "500ms", tries: 1 },
    log: { level: logLevel, format: "json" },
    shutdown_timeout: "1s",
  };
  const configFile = join(tmpDir, "gatehouse-fuzz.yaml");
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = join(tmpDir, "gatehouse-fuzz.log");
  const logFd = openSync(logFile, "a");
  const child = spawn(process.execPath, [cli, "--config", configFile], { stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`gatehouse exited with ${String(child.exitCode)} at startup: ${readFileSync(logFile, "utf8")}`);
    if (await canConnect(PROXY_PORT)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`gatehouse did not listen within 20 s; see ${logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid;
  return {
    pid,
    configFile,
    logFile,
    alive: () => child.exitCode === null && child.signalCode === null,
    exitStatus: () => ({ code: child.exitCode, signal: child.signalCode }),
    stats: () => procStats(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (µs, utime+stime), open fds, RSS and peak RSS (KiB) of a process, from /proc. */
export function procStats(pid) {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? NaN);
  return {
    cpuUs: (ticks * 1_000_000) / ticksPerSecond(),
    fds: readdirSync(`/proc/${String(pid)}/fd`).length,
    rssKiB: kib("VmRSS"),
    peakRssKiB: kib("VmHWM"),
  };
}
