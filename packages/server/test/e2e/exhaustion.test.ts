import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import type { Server } from "node:http";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curl, curlThrough, startHttp } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { adminGet, metricValue } from "../helpers/tunnel.js";

const PASSWORD = "exhaust-secret-7";
const FD_LIMIT = 256;
/** fdBudget(256): reserve = max(64, 256/8) = 64; (256 − 64) / 2 = 96 connections. */
const BUDGET = 96;
const FD_RESERVE = 64;

interface Flood {
  readonly sockets: Socket[];
  /** Connections the proxy closed (FIN or reset). */
  closedByProxy(): number;
  destroy(): void;
}

/** `perAddress` silent connections from each of `addresses` (127.0.0.2, .3, ...), opened in small batches. */
async function silentFlood(port: number, addresses: number, perAddress: number): Promise<Flood> {
  const sockets: Socket[] = [];
  let closed = 0;
  let destroying = false;
  for (let i = 0; i < addresses * perAddress; i++) {
    const socket = connect({ port, host: "127.0.0.1", localAddress: `127.0.0.${String(2 + (i % addresses))}` });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (!destroying) closed++;
    });
    socket.resume();
    sockets.push(socket);
    if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    sockets,
    closedByProxy: () => closed,
    destroy() {
      destroying = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${String(pid)}/fd`).length;
}

function logLines(proxy: RunningCli, from = 0): Record<string, unknown>[] {
  return proxy
    .stdout()
    .slice(from)
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("silent anonymous connections cannot use up the fd limit (real gatehouse process)", () => {
  const hasPrlimit = spawnSync("prlimit", ["--version"]).status === 0;
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  let record: string;
  before(async () => {
    http = await startHttp();
    record = await hashPassword(PASSWORD, CHEAP_SCRYPT);
  });
  after(() => {
    http.server.close();
    fixture.remove();
  });

  it(`under prlimit --nofile=${String(FD_LIMIT)}: 300 silent connections from 15 addresses; logins and /healthz still work`, async () => {
    assert.ok(hasPrlimit, "prlimit (util-linux) is not installed: see scripts/test-tiers/preflight.js");
    const file = fixture.write(
      "budget.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    name: socks",
        "    require_auth: true",
        // Its own cap, beyond what 256 fds can hold: a startup warning, not an error.
        "  - listen: 127.0.0.1:0",
        "    name: capped",
        "    max_connections: 500",
        ...staticAuthLines(record),
        "admin:",
        "  listen: 127.0.0.1:0",
      ].join("\n"),
    );
    const proxy = await startCli(
      ["--config", file],
      {},
      { wrapper: ["prlimit", `--nofile=${String(FD_LIMIT)}`, "--"] },
    );
    let flood: Flood | undefined;
    try {
      const pid = proxy.child.pid!;
      const budget = await proxy.waitForEvent("connection_budget");
      assert.deepEqual(
        [budget.fd_limit, budget.fd_limit_source, budget.fd_reserve, budget.max_connections],
        [FD_LIMIT, "proc", FD_RESERVE, BUDGET],
      );
      const overBudget = await proxy.waitForEvent("max_connections_over_fd_budget");
      assert.deepEqual([overBudget.level, overBudget.total, overBudget.budget], [40, 500, BUDGET]);

      const baselineFds = fdCount(pid);
      const floodStart = proxy.stdout().length;
      flood = await silentFlood(proxy.ports[0]!, 15, 20);
      // All 300 connected; every one beyond the budget made the oldest silent one go.
      await until(() => flood!.closedByProxy() >= 300 - BUDGET, `${String(300 - BUDGET)} closed by the proxy`);
      const floodFds = fdCount(pid);
      assert.ok(floodFds < FD_LIMIT, `${String(floodFds)} fds`);
      assert.ok(floodFds <= baselineFds + BUDGET + 4, `${String(floodFds)} fds (baseline ${String(baselineFds)})`);

      const login = await curlThrough(proxy.ports[0]!, `http://127.0.0.1:${String(http.port)}/in`, `alice:${PASSWORD}`);
      assert.equal(login.exitCode, 0, "a login through the proxy works during the flood");
      assert.equal(login.stdout, "hello /in");
      assert.deepEqual(await adminGet(proxy.adminPort!, "/healthz"), { status: 200, body: "ok\n" });
      const metrics = await adminGet(proxy.adminPort!, "/metrics");
      assert.equal(metricValue(metrics.body, "proxy_limit_reached_total", { limit: "fd_reserve" }), 1);
      assert.equal(metricValue(metrics.body, "proxy_connection_budget"), BUDGET);
      const evicted = metricValue(metrics.body, "proxy_connections_evicted_total", {
        listener: "socks",
        reason: "fd_reserve",
      });
      assert.ok(evicted >= 300 - BUDGET + 1, `${String(evicted)} evicted (curl's connection made one more go)`);
      await until(() => flood!.closedByProxy() === evicted, "every eviction seen by the client");
      assert.ok(fdCount(pid) < FD_LIMIT);

      const lines = logLines(proxy, floodStart);
      assert.equal(lines.filter((line) => line.event === "connection_limit_reached").length, 1, "logged once");
      const reached = lines.find((line) => line.event === "connection_limit_reached")!;
      assert.deepEqual([reached.level, reached.limit_name, reached.limit], [40, "fd_reserve", BUDGET]);
      assert.ok(lines.length <= 5, `a few lines, not one per connection: ${JSON.stringify(lines.map((l) => l.event))}`);

      flood.destroy();
      const recovered = await proxy.waitForEvent("connection_limit_recovered", floodStart);
      assert.equal(recovered.evicted, evicted);
      assert.equal(recovered.refused, 0);
    } finally {
      flood?.destroy();
      await proxy.stop();
    }
  });

  it("max_unauthenticated_per_ip: the oldest silent connections from one address go, logged once and counted", async () => {
    const file = fixture.write(
      "per-ip.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    name: socks",
        "    require_auth: true",
        "    max_unauthenticated_per_ip: 10",
        ...staticAuthLines(record),
        "admin:",
        "  listen: 127.0.0.1:0",
      ].join("\n"),
    );
    const proxy = await startCli(["--config", file]);
    let flood: Flood | undefined;
    try {
      const floodStart = proxy.stdout().length;
      flood = await silentFlood(proxy.ports[0]!, 1, 25);
      await until(() => flood!.closedByProxy() >= 15, "15 closed by the proxy");
      const login = await curl([
        "--interface",
        "127.0.0.2",
        "--socks5-hostname",
        `127.0.0.1:${String(proxy.ports[0]!)}`,
        "--proxy-user",
        `alice:${PASSWORD}`,
        `http://127.0.0.1:${String(http.port)}/ip`,
      ]);
      assert.equal(login.exitCode, 0, "a login from the crowded address works");
      assert.equal(login.stdout, "hello /ip");
      const metrics = await adminGet(proxy.adminPort!, "/metrics");
      assert.equal(
        metricValue(metrics.body, "proxy_connections_evicted_total", {
          listener: "socks",
          reason: "unauthenticated_per_ip",
        }),
        16,
      );
      await proxy.waitForEvent("session_end", floodStart); // curl can exit before the proxy logs its session
      const lines = logLines(proxy, floodStart);
      const notices = lines.filter((line) => line.event === "unauthenticated_limit");
      assert.equal(notices.length, 1, "rate-limited: one line");
      assert.deepEqual([notices[0]!.level, notices[0]!.addresses, notices[0]!.limit], [40, ["127.0.0.2"], 10]);
      assert.equal(lines.filter((line) => line.event === "session_end").length, 1, "only curl's session, at info");
    } finally {
      flood?.destroy();
      await proxy.stop();
    }
  });
});
