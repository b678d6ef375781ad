// `workers: 2` through the real gatehouse process (issue 17): a node:cluster primary and two
// engine workers. Connection limits and the failure throttle hold exactly whichever worker a
// connection lands on; connections are spread over both; SIGHUP reloads both (a bad config
// neither); SIGTERM drains both; a worker killed with SIGKILL is replaced while the other keeps
// its tunnels; a config that kills workers at startup makes the primary exit non-zero.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { NOT_ALLOWED, SUCCEEDED, attempt, waitFor } from "../helpers/socks-attempt.js";
import { lines, runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { CHEAP_SCRYPT, makeFixtureDir } from "../helpers/fixtures.js";
import { adminGet, echoRoundTrip, metricValue, startEcho } from "../helpers/tunnel.js";

const PASSWORDS = { alice: "alice-Pw-1", bob: "bob-Pw-2" } as const;
/** Node's own switch: the primary accepts and hands connections to the workers in turn. */
const ROUND_ROBIN = { NODE_CLUSTER_SCHED_POLICY: "rr" };
/** The worker's PID from its latest `worker_started` line. */
function workerPid(proxy: RunningCli, worker: number): number {
  const started = lines(proxy).filter((line) => line.event === "worker_started" && line.worker === worker);
  const pid = started.at(-1)?.pid;
  assert.equal(typeof pid, "number", `worker ${String(worker)} has started`);
  return pid as number;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("workers: 2 — limits and the throttle hold across workers", () => {
  const fixture = makeFixtureDir();
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: RunningCli;
  let port: number;

  before(async () => {
    echo = await startEcho();
    const [alice, bob] = await Promise.all([
      hashPassword(PASSWORDS.alice, CHEAP_SCRYPT),
      hashPassword(PASSWORDS.bob, CHEAP_SCRYPT),
    ]);
    const file = fixture.write(
      "limits.yaml",
      [
        "workers: 2",
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "auth:",
        "  provider: local",
        "  cache: false",
        "  throttle: { max_failures: 4, window: 60s, block: 60s }",
        "  providers:",
        "    local:",
        "      use: static",
        "      users:",
        `        alice: { password: "${alice}" }`,
        `        bob: { password: "${bob}" }`,
        "policy:",
        "  default: allow",
        "  max_connections_per_identity: 3",
        "  max_connections_per_ip: 5",
        "admin:",
        "  listen: 127.0.0.1:0",
        "shutdown_timeout: 1s",
        "log: { level: debug }", // throttled attempts are logged at debug
      ].join("\n"),
    );
    // Round-robin through the primary: connections alternate between the workers, so the
    // tests can see a limit hold across both.
    proxy = await startCli(["--config", file], ROUND_ROBIN);
    port = proxy.ports[0]!;
  });

  after(async () => {
    await proxy.stop();
    echo.close();
    fixture.remove();
  });

  it("a per-identity limit of 3 holds under concurrent connects that land on both workers", async () => {
    const since = proxy.stdout().length;
    const attempts = await Promise.all(
      Array.from({ length: 8 }, () =>
        attempt(port, echo.port, { user: "alice", password: PASSWORDS.alice, localAddress: "127.0.0.2" }),
      ),
    );
    const granted = attempts.filter((entry) => entry.result === SUCCEEDED);
    try {
      assert.equal(granted.length, 3, `results: ${attempts.map((entry) => String(entry.result)).join(",")}`);
      assert.equal(attempts.filter((entry) => entry.result === NOT_ALLOWED).length, 5);
      for (const { socket } of granted) assert.equal(await echoRoundTrip(socket, "held"), "held");
      // The eight logins were served by both workers: each one counted the other's tunnels.
      const loggedInOn = new Set((await proxy.waitForEvents("auth", 8, since)).map((line) => line.worker));
      assert.deepEqual([...loggedInOn].sort(), [1, 2], "alice's attempts landed on both workers");
      for (const line of await proxy.waitForEvents("policy_denied", 5, since)) {
        assert.equal(line.reason, "max_connections_per_identity");
      }
      // One tunnel ends: its slot is free again, on whichever worker the next one lands.
      granted[0]!.socket.destroy();
      await proxy.waitForEvents("session_end", 6, since);
      const again = await attempt(port, echo.port, {
        user: "alice",
        password: PASSWORDS.alice,
        localAddress: "127.0.0.2",
      });
      assert.equal(again.result, SUCCEEDED);
      again.socket.destroy();
    } finally {
      for (const { socket } of granted) socket.destroy();
    }
    // Every slot is given back before the next test counts.
    await proxy.waitForEvents("session_end", 9, since);
  });

  it("a per-IP limit of 5 counts tunnels of every identity on both workers", async () => {
    const since = proxy.stdout().length;
    // Neither identity goes over its limit of 3: the one refusal is the address's.
    const users = ["alice", "alice", "alice", "bob", "bob", "bob"] as const;
    const attempts = await Promise.all(
      users.map((user) => attempt(port, echo.port, { user, password: PASSWORDS[user], localAddress: "127.0.0.3" })),
    );
    const granted = attempts.filter((entry) => entry.result === SUCCEEDED);
    try {
      assert.equal(granted.length, 5, `results: ${attempts.map((entry) => String(entry.result)).join(",")}`);
      for (const line of await proxy.waitForEvents("policy_denied", 1, since)) {
        assert.equal(line.reason, "max_connections_per_ip");
      }
      const loggedInOn = new Set((await proxy.waitForEvents("auth", users.length, since)).map((line) => line.worker));
      assert.deepEqual([...loggedInOn].sort(), [1, 2], "the attempts landed on both workers");
    } finally {
      for (const { socket } of granted) socket.destroy();
    }
    await proxy.waitForEvents("session_end", users.length, since);
  });

  it("a client address throttled on one worker stays throttled on the other", async () => {
    const since = proxy.stdout().length;
    // Four bad passwords, one after the other: the primary hands connections to the workers in turn.
    for (let index = 0; index < 4; index++) {
      const failed = await attempt(port, echo.port, { user: "bob", password: "wrong-Pw-9", localAddress: "127.0.0.4" });
      assert.equal(failed.result, "auth_failed");
    }
    const failedOn = new Set(
      (await proxy.waitForEvents("auth", 4, since)).map((line) => {
        assert.equal(line.reason, "bad_credentials");
        return line.worker;
      }),
    );
    assert.deepEqual([...failedOn].sort(), [1, 2], "the failures were spread over both workers");
    // Now blocked everywhere, even with the right password, on both workers.
    const refusedOn = new Set<unknown>();
    for (let index = 0; index < 2; index++) {
      const refused = await attempt(port, echo.port, {
        user: "bob",
        password: PASSWORDS.bob,
        localAddress: "127.0.0.4",
      });
      assert.equal(refused.result, "auth_failed");
    }
    for (const line of await proxy.waitForEvents("auth", 6, since)) {
      if (line.reason === "throttled") refusedOn.add(line.worker);
    }
    assert.deepEqual([...refusedOn].sort(), [1, 2], "throttled on both workers");
    // Another address is not.
    const other = await attempt(port, echo.port, { user: "bob", password: PASSWORDS.bob, localAddress: "127.0.0.5" });
    assert.equal(other.result, SUCCEEDED);
    other.socket.destroy();
  });

  it("/metrics sums both workers and says how they share the connections; /readyz is ready", async () => {
    const metrics = (await adminGet(proxy.adminPort!, "/metrics")).body;
    const total = metricValue(metrics, "proxy_connections_accepted_total", { listener: "all" });
    const one = metricValue(metrics, "proxy_worker_connections_accepted_total", { worker: "1" });
    const two = metricValue(metrics, "proxy_worker_connections_accepted_total", { worker: "2" });
    assert.ok(one > 0 && two > 0, `per worker: ${String(one)}, ${String(two)}`);
    assert.equal(total, one + two);
    assert.equal(metricValue(metrics, "proxy_workers"), 2);
    const refused = metricValue(metrics, "proxy_policy_denied_total");
    assert.ok(refused >= 5, `policy denials summed over workers: ${String(refused)}`);
    assert.equal((await adminGet(proxy.adminPort!, "/readyz")).status, 200);
  });

  it("every worker line carries `worker`; the primary's lines do not", () => {
    const all = lines(proxy);
    const primaryPid = proxy.child.pid;
    for (const line of all) {
      if (line.pid === primaryPid) assert.equal(line.worker, undefined, JSON.stringify(line));
      else assert.ok(line.worker === 1 || line.worker === 2, JSON.stringify(line));
    }
    assert.ok(all.some((line) => line.pid === primaryPid && line.event === "started" && line.workers === 2));
    assert.notEqual(workerPid(proxy, 1), workerPid(proxy, 2));
  });
});

describe("workers: 2 — reload, a killed worker, drain", () => {
  const fixture = makeFixtureDir();
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let file: string;
  let proxy: RunningCli;
  let port: number;
  const config = (policy: string): string =>
    [
      "workers: 2",
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "policy:",
      "  default: allow",
      "  rules:",
      `    - ${policy}`,
      "admin:",
      "  listen: 127.0.0.1:0",
      "shutdown_timeout: 3s",
    ].join("\n");

  before(async () => {
    echo = await startEcho();
    file = fixture.write("lifecycle.yaml", config("{ name: nothing-denied, action: deny, to: [192.0.2.1] }"));
    proxy = await startCli(["--config", file], ROUND_ROBIN);
    port = proxy.ports[0]!;
  });

  after(async () => {
    await proxy.stop("SIGKILL");
    echo.close();
    fixture.remove();
  });

  it("SIGHUP reloads both workers; a bad config changes neither", async () => {
    const since = proxy.stdout().length;
    fixture.write("lifecycle.yaml", config(`{ name: no-echo, action: deny, to: ["127.0.0.1"] }`));
    process.kill(proxy.child.pid!, "SIGHUP");
    await proxy.waitForEvent("config_reloaded", since);
    const reloaded = lines(proxy, since).filter((line) => line.event === "config_reloaded");
    await waitFor(
      () => lines(proxy, since).filter((line) => line.event === "config_reloaded").length === 3,
      "a config_reloaded line from each worker and the primary",
    );
    assert.ok(reloaded.length >= 1);
    // Both workers now deny the echo server.
    for (let index = 0; index < 4; index++) assert.equal((await attempt(port, echo.port)).result, NOT_ALLOWED);

    const badSince = proxy.stdout().length;
    fixture.write("lifecycle.yaml", `${config("{ name: nothing-denied, action: deny, to: [192.0.2.1] }")}\nbogus: 1\n`);
    process.kill(proxy.child.pid!, "SIGHUP");
    const failed = await proxy.waitForEvent("reload_failed", badSince);
    assert.equal(failed.worker, undefined, "the primary refused it");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(lines(proxy, badSince).filter((line) => line.event === "config_reloaded").length, 0);
    for (let index = 0; index < 4; index++) assert.equal((await attempt(port, echo.port)).result, NOT_ALLOWED);

    // Back to a config that lets the echo server through, for the tests below.
    const okSince = proxy.stdout().length;
    fixture.write("lifecycle.yaml", config("{ name: nothing-denied, action: deny, to: [192.0.2.1] }"));
    process.kill(proxy.child.pid!, "SIGHUP");
    await proxy.waitForEvent("config_reloaded", okSince);
    await waitFor(
      () => lines(proxy, okSince).filter((line) => line.event === "config_reloaded").length === 3,
      "every process reloaded",
    );
    for (let index = 0; index < 4; index++) {
      const { result, socket } = await attempt(port, echo.port);
      assert.equal(result, SUCCEEDED);
      socket.destroy();
    }
  });

  it("kill -9 of one worker: the other's tunnels live on, the dead one's clients reconnect, it is replaced", async () => {
    const since = proxy.stdout().length;
    const tunnels = (await Promise.all(Array.from({ length: 6 }, () => attempt(port, echo.port)))).map(
      (entry) => entry.socket,
    );
    const closed = new Set<Socket>();
    for (const socket of tunnels) socket.once("close", () => closed.add(socket));
    const held = (await adminGet(proxy.adminPort!, "/metrics")).body;
    const onWorker1 = metricValue(held, "proxy_worker_active_connections", { worker: "1" });
    assert.ok(onWorker1 >= 1 && onWorker1 <= 5, `${String(onWorker1)} of the 6 tunnels on worker 1`);
    const victim = workerPid(proxy, 1);
    process.kill(victim, "SIGKILL");
    // The kernel closes the dead worker's sockets: exactly its tunnels end.
    await waitFor(() => closed.size === onWorker1, "worker 1's tunnels to close");
    const survivors = tunnels.filter((socket) => !closed.has(socket));
    for (const socket of survivors) assert.equal(await echoRoundTrip(socket, "still here"), "still here");
    // New connections are served meanwhile (by worker 2), and worker 1 comes back within a second of its start.
    const during = await attempt(port, echo.port);
    assert.equal(during.result, SUCCEEDED);
    during.socket.destroy();
    const exited = await proxy.waitForEvent("worker_exited", since);
    assert.equal(exited.worker_id, 1);
    assert.equal(exited.restart_in_ms, 0);
    await waitFor(
      () => lines(proxy, since).some((line) => line.event === "worker_started" && line.worker === 1),
      "worker 1 to be replaced",
      15_000,
    );
    assert.notEqual(workerPid(proxy, 1), victim);
    // The dead worker's clients reconnect, and both workers serve again.
    const reconnected = await Promise.all(Array.from({ length: 4 }, () => attempt(port, echo.port)));
    for (const { result, socket } of reconnected) {
      assert.equal(result, SUCCEEDED);
      assert.equal(await echoRoundTrip(socket, "back"), "back");
      socket.destroy();
    }
    for (const socket of survivors) socket.destroy();
    const metrics = (await adminGet(proxy.adminPort!, "/metrics")).body;
    assert.equal(metricValue(metrics, "proxy_worker_restarts_total"), 1);
    assert.equal((await adminGet(proxy.adminPort!, "/readyz")).status, 200);
  });

  it("SIGTERM drains the tunnels of both workers within shutdown_timeout, then every process exits 0", async () => {
    const tunnels = await Promise.all(Array.from({ length: 4 }, () => attempt(port, echo.port)));
    const pids = [workerPid(proxy, 1), workerPid(proxy, 2)];
    const since = proxy.stdout().length;
    const startedAt = Date.now();
    const stopped = proxy.stop("SIGTERM");
    await proxy.waitForEvent("shutdown", since);
    // Draining: the established tunnels still carry bytes, new connections are refused.
    for (const { socket } of tunnels) assert.equal(await echoRoundTrip(socket, "draining"), "draining");
    const { code } = await stopped;
    assert.equal(code, 0);
    const tookMs = Date.now() - startedAt;
    assert.ok(tookMs >= 2500 && tookMs < 9000, `drained for ${String(tookMs)} ms (shutdown_timeout 3s)`);
    for (const pid of pids) assert.equal(isAlive(pid), false, `worker ${String(pid)} exited`);
    for (const { socket } of tunnels) socket.destroy();
  });
});

describe("workers: 2 — the default: each worker accepts from the shared socket", () => {
  const fixture = makeFixtureDir();
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: RunningCli;
  let port: number;

  before(async () => {
    echo = await startEcho();
    const file = fixture.write(
      "shared.yaml",
      ["workers: 2", "listeners:", "  - listen: 127.0.0.1:0", "admin:", "  listen: 127.0.0.1:0"].join("\n"),
    );
    proxy = await startCli(["--config", file], { NODE_CLUSTER_SCHED_POLICY: undefined });
    port = proxy.ports[0]!;
  });

  after(async () => {
    await proxy.stop();
    echo.close();
    fixture.remove();
  });

  it("the primary says how connections reach the workers", async () => {
    assert.equal((await proxy.waitForEvent("workers_starting")).accept, "shared");
  });

  it("1 000 connections are spread over both workers, each taking at least 35 %", async () => {
    const before = (await adminGet(proxy.adminPort!, "/metrics")).body;
    const base = [1, 2].map((worker) =>
      metricValue(before, "proxy_worker_connections_accepted_total", { worker: String(worker) }),
    );
    const total = 1000;
    let next = 0;
    const client = async (): Promise<void> => {
      while (next < total) {
        next++;
        const { result, socket } = await attempt(port, echo.port);
        assert.equal(result, SUCCEEDED);
        socket.destroy();
      }
    };
    await Promise.all(Array.from({ length: 20 }, client));
    const after = (await adminGet(proxy.adminPort!, "/metrics")).body;
    const shares = [1, 2].map(
      (worker, index) =>
        (metricValue(after, "proxy_worker_connections_accepted_total", { worker: String(worker) }) - base[index]!) /
        total,
    );
    assert.ok(
      shares.every((share) => share >= 0.35),
      `shares: ${shares.join(", ")}`,
    );
  });
});

describe("workers: 2 — workers that cannot start", () => {
  const fixture = makeFixtureDir();

  after(() => fixture.remove());

  it("a listener whose port is taken: the primary exits 1 with GH_WORKERS_FAILED and no worker stays", async () => {
    const blocker = createServer();
    blocker.listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const taken = (blocker.address() as AddressInfo).port;
    const file = fixture.write(
      "taken.yaml",
      ["workers: 2", "listeners:", `  - listen: 127.0.0.1:${String(taken)}`].join("\n"),
    );
    try {
      const result = await runCli(["--config", file], { timeoutMs: 30_000 });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /GH_WORKERS_FAILED/);
      assert.match(result.stderr, /EADDRINUSE/);
      const workerPids = result.stdout
        .split("\n")
        .filter((line) => line.includes('"worker":'))
        .map((line) => (JSON.parse(line) as { pid: number }).pid);
      for (const pid of new Set(workerPids)) assert.equal(isAlive(pid), false);
    } finally {
      blocker.close();
    }
  });
});
