// A real HAProxy (Debian `haproxy`) running examples/deploy/haproxy.cfg in front of two gatehouse
// processes, with the addresses in its environment (the file reads them as "${VAR}").
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { RunningCli } from "./cli.js";
import { REPO_ROOT } from "./paths.js";
import { waitFor } from "./socks-attempt.js";
import { adminGet, metricValue, unusedPort } from "./tunnel.js";

export const HAPROXY_CONFIG = join(REPO_ROOT, "examples", "deploy", "haproxy.cfg");

/** The haproxy binary on PATH (or in an sbin beside a bin), or a clear failure naming the package. */
export function haproxyBinary(): string {
  const folders = (process.env.PATH ?? "").split(delimiter).filter((folder) => folder !== "");
  for (const folder of [...folders, "/usr/sbin", "/usr/local/sbin"]) {
    const path = join(folder, "haproxy");
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next folder
    }
  }
  throw new Error("haproxy is not installed: apt-get install haproxy (see scripts/test-tiers/preflight.js)");
}

export interface RunningHaproxy {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * `haproxy -f examples/deploy/haproxy.cfg -db`, its frontend on 127.0.0.1:`frontendPort` and its
 * two servers on 127.0.0.1:`backends[0|1]`. Not ready yet when this returns: the caller waits for
 * its health checks (a probe of the frontend would itself be relayed to an instance).
 */
export function startHaproxy(frontendPort: number, backends: readonly [number, number]): RunningHaproxy {
  const child = spawn(haproxyBinary(), ["-f", HAPROXY_CONFIG, "-db"], {
    env: {
      ...process.env,
      GATEHOUSE_FRONTEND: `127.0.0.1:${String(frontendPort)}`,
      GATEHOUSE_1: `127.0.0.1:${String(backends[0])}`,
      GATEHOUSE_2: `127.0.0.1:${String(backends[1])}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (data: string) => (output += data));
  child.stderr.setEncoding("utf8").on("data", (data: string) => (output += data));
  const exited = once(child, "close");
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, "SIGTERM");
      }
      await exited;
    },
  };
}

/**
 * HAProxy in front of two running gatehouses (their first listener, named `listener`, takes PROXY
 * v2 from 127.0.0.1), ready once its first health check has reached each of them.
 */
export async function startHaproxyInFront(
  gatehouses: readonly RunningCli[],
  listener: string,
): Promise<{ haproxy: RunningHaproxy; frontendPort: number }> {
  const frontendPort = await unusedPort();
  const haproxy = startHaproxy(frontendPort, [gatehouses[0]!.ports[0]!, gatehouses[1]!.ports[0]!]);
  try {
    for (const gatehouse of gatehouses) {
      await waitFor(async () => {
        if (haproxy.child.exitCode !== null) throw new Error(`haproxy exited: ${haproxy.output()}`);
        const metrics = (await adminGet(gatehouse.adminPort!, "/metrics")).body;
        return metricValue(metrics, "proxy_proxy_header_health_checks_total", { listener }) > 0;
      }, "HAProxy's first health check");
    }
  } catch (error) {
    await haproxy.stop();
    throw error;
  }
  return { haproxy, frontendPort };
}
