// `state: {store: redis}` (issue 18): two real `gatehouse` processes side by side on one real
// redis-server share their connection limits (leases) and the failure throttle; a `kill -9`ed
// instance's leases expire within lease_ttl; Redis killed and restarted gives the configured
// fail mode (deny: refused; allow: local state), logged once and counted, then recovery without
// restarting gatehouse; `gatehouse users disable` and POST /api/revoke end an identity's tunnels on
// both instances and drop its cached logins.
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startRedis } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import type { RedisServer } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import { runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { CHEAP_SCRYPT, makeFixtureDir } from "../helpers/fixtures.js";
import { NOT_ALLOWED, SUCCEEDED, attempt, closed, waitFor } from "../helpers/socks-attempt.js";
import type { Attempt } from "../helpers/socks-attempt.js";
import { adminGet, echoRoundTrip, metricValue, startEcho } from "../helpers/tunnel.js";

const PASSWORDS = { alice: "alice-Pw-1", bob: "bob-Pw-2" } as const;

/** A config for one instance of the fleet. */
async function fleetConfig(
  redis: RedisServer,
  prefix: string,
  options: { readonly onStoreError?: "deny" | "allow"; readonly top?: readonly string[] } = {},
): Promise<string> {
  const [alice, bob] = await Promise.all([
    hashPassword(PASSWORDS.alice, CHEAP_SCRYPT),
    hashPassword(PASSWORDS.bob, CHEAP_SCRYPT),
  ]);
  return [
    "listeners:",
    "  - listen: 127.0.0.1:0",
    "auth:",
    "  provider: local",
    "  cache: false",
    "  throttle: { max_failures: 3, window: 60s, block: 60s }",
    "  providers:",
    "    local:",
    "      use: static",
    "      users:",
    `        alice: { password: "${alice}" }`,
    `        bob: { password: "${bob}" }`,
    "policy:",
    "  default: allow",
    "  max_connections_per_identity: 3",
    "  max_connections_per_ip: 4",
    "state:",
    "  store: redis",
    `  url: ${redis.url}`,
    `  key_prefix: "${prefix}"`,
    "  lease_ttl: 1s",
    `  on_store_error: ${options.onStoreError ?? "deny"}`,
    "admin:",
    "  listen: 127.0.0.1:0",
    "shutdown_timeout: 1s",
    ...(options.top ?? []),
  ].join("\n");
}

function closeAll(attempts: readonly Attempt[]): void {
  for (const { socket } of attempts) socket.destroy();
}

function granted(attempts: readonly Attempt[]): Attempt[] {
  return attempts.filter((one) => one.result === SUCCEEDED);
}

async function leaseCount(redis: RedisServer, key: string): Promise<number> {
  return Number((await redis.cli("ZCARD", key)).trim());
}

describe("state: redis — two instances share limits and the throttle", () => {
  const fixture = makeFixtureDir();
  const prefix = "gh-test-fleet:";
  let redis: RedisServer;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let a: RunningCli;
  let b: RunningCli;

  before(async () => {
    redis = await startRedis();
    echo = await startEcho();
    const file = fixture.write("fleet.yaml", await fleetConfig(redis, prefix));
    [a, b] = await Promise.all([startCli(["--config", file]), startCli(["--config", file])]);
  });

  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    echo.close();
    await redis.stop();
    fixture.remove();
  });

  it("a per-identity limit of 3 holds across both instances under concurrent connects", async () => {
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        attempt((index % 2 === 0 ? a : b).ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice }),
      ),
    );
    try {
      assert.equal(granted(attempts).length, 3, `results: ${attempts.map((one) => String(one.result)).join(",")}`);
      assert.ok(attempts.every((one) => one.result === SUCCEEDED || one.result === NOT_ALLOWED));
      assert.equal(await leaseCount(redis, `${prefix}leases:identity:alice`), 3);
    } finally {
      closeAll(attempts);
    }
    await waitFor(async () => (await leaseCount(redis, `${prefix}leases:identity:alice`)) === 0, "leases released");
  });

  it("a per-IP limit of 4 holds across both instances (no identity)", async () => {
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        attempt((index % 2 === 0 ? a : b).ports[0]!, echo.port, { localAddress: "127.0.0.3" }),
      ),
    );
    try {
      assert.equal(granted(attempts).length, 4, `results: ${attempts.map((one) => String(one.result)).join(",")}`);
      assert.equal(await leaseCount(redis, `${prefix}leases:ip:127.0.0.3`), 4);
      // No per-identity lease is taken for a session without an identity.
      assert.equal((await redis.cli("KEYS", `${prefix}leases:identity:*`)).trim(), "");
    } finally {
      closeAll(attempts);
    }
  });

  it("failures on one instance throttle the address on the other", async () => {
    for (let index = 0; index < 3; index++) {
      const failed = await attempt(a.ports[0]!, echo.port, {
        user: "bob",
        password: "wrong",
        localAddress: "127.0.0.4",
      });
      assert.equal(failed.result, "auth_failed");
    }
    await waitFor(
      async () => (await redis.cli("EXISTS", `${prefix}throttle:blocked:address:127.0.0.4`)).trim() === "1",
      "the address block in Redis",
    );
    const throttled = await attempt(b.ports[0]!, echo.port, {
      user: "bob",
      password: PASSWORDS.bob,
      localAddress: "127.0.0.4",
    });
    assert.equal(throttled.result, "auth_failed", "the right password from the blocked address is refused on b");
    const elsewhere = await attempt(b.ports[0]!, echo.port, {
      user: "bob",
      password: PASSWORDS.bob,
      localAddress: "127.0.0.5",
    });
    assert.equal(elsewhere.result, SUCCEEDED, "the same login from another address works");
    elsewhere.socket.destroy();
  });

  it("kill -9 of one instance frees its leases within lease_ttl", async (t) => {
    const held = await Promise.all(
      Array.from({ length: 3 }, () => attempt(b.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice })),
    );
    assert.deepEqual(
      held.map((one) => one.result),
      [SUCCEEDED, SUCCEEDED, SUCCEEDED],
    );
    const refused = await attempt(a.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice });
    assert.equal(refused.result, NOT_ALLOWED, "b's three leases count on a");
    await b.stop("SIGKILL");
    const killedAt = Date.now();
    let next: Attempt | undefined;
    await waitFor(
      async () => {
        const one = await attempt(a.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice });
        if (one.result === SUCCEEDED) next = one;
        return next !== undefined;
      },
      "a lease for alice on a",
      5000,
    );
    const freedMs = Date.now() - killedAt;
    t.diagnostic(`leases of the killed instance freed ${String(freedMs)} ms after kill -9 (lease_ttl 1 s)`);
    next?.socket.destroy();
    closeAll(held);
    // lease_ttl is 1 s; the slack is for the attempts themselves on a loaded machine.
    assert.ok(freedMs < 2500, `freed after ${String(freedMs)} ms`);
  });
});

describe("state: redis — Redis killed and restarted", () => {
  const fixture = makeFixtureDir();
  let redis: RedisServer;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let deny: RunningCli;
  let allow: RunningCli;

  before(async () => {
    redis = await startRedis();
    echo = await startEcho();
    const denyFile = fixture.write("deny.yaml", await fleetConfig(redis, "gh-deny:"));
    const allowFile = fixture.write("allow.yaml", await fleetConfig(redis, "gh-allow:", { onStoreError: "allow" }));
    deny = await startCli(["--config", denyFile]);
    allow = await startCli(["--config", allowFile]);
  });

  after(async () => {
    await Promise.all([deny.stop(), allow.stop()]);
    echo.close();
    await redis.stop();
    fixture.remove();
  });

  it("deny refuses tunnels that need a slot while Redis is down, allow keeps serving; both recover", async (t) => {
    const denyFrom = deny.stdout().length;
    const allowFrom = allow.stdout().length;
    await redis.kill();
    for (let index = 0; index < 2; index++) {
      // Without an identity: only the per-IP limit needs the store.
      const refused = await attempt(deny.ports[0]!, echo.port, { localAddress: "127.0.0.6" });
      assert.equal(refused.result, NOT_ALLOWED, "deny: limit_store_unavailable");
      const served = await attempt(allow.ports[0]!, echo.port, { localAddress: "127.0.0.6" });
      assert.equal(served.result, SUCCEEDED, "allow: this instance's own state");
      served.socket.destroy();
    }
    // A login needs the throttle: deny refuses it (a backend error); allow asks its own throttle.
    const login = await attempt(deny.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice });
    assert.equal(login.result, "auth_failed");
    const localLogin = await attempt(allow.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice });
    assert.equal(localLogin.result, SUCCEEDED);
    localLogin.socket.destroy();
    const end = await deny.waitForEvent("session_end", denyFrom);
    assert.equal(end.reason, "policy_denied:limit_store_unavailable");
    const outage = (proxy: RunningCli, from: number): number =>
      proxy
        .stdout()
        .slice(from)
        .split("\n")
        .filter((line) => line.includes('"event":"state_store_unavailable"')).length;
    await deny.waitForEvent("state_store_unavailable", denyFrom);
    await allow.waitForEvent("state_store_unavailable", allowFrom);
    assert.equal(outage(deny, denyFrom), 1, "one line per outage, not per connection");
    assert.equal(outage(allow, allowFrom), 1);
    const denied = metricValue((await adminGet(deny.adminPort!, "/metrics")).body, "proxy_state_store_errors_total", {
      action: "denied",
    });
    const local = metricValue((await adminGet(allow.adminPort!, "/metrics")).body, "proxy_state_store_errors_total", {
      action: "local",
    });
    assert.ok(denied >= 2, `denied ${String(denied)}`);
    assert.ok(local >= 2, `local ${String(local)}`);

    await redis.restart();
    const restartedAt = Date.now();
    let back: Attempt | undefined;
    await waitFor(
      async () => {
        const one = await attempt(deny.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice });
        if (one.result === SUCCEEDED) back = one;
        else one.socket.destroy();
        return back !== undefined;
      },
      "deny to serve again after Redis restarted",
      15_000,
    );
    t.diagnostic(`deny served again ${String(Date.now() - restartedAt)} ms after Redis was ready`);
    back?.socket.destroy();
    await deny.waitForEvent("state_store_recovered", denyFrom);
  });
});

async function postRevoke(adminPort: number, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${String(adminPort)}/api/revoke`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
  });
  return { status: response.status, text: await response.text() };
}

describe("state: redis — revocation reaches every instance", () => {
  const fixture = makeFixtureDir();
  let redis: RedisServer;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let file: string;
  let a: RunningCli;
  let b: RunningCli;

  before(async () => {
    redis = await startRedis();
    echo = await startEcho();
    file = fixture.write(
      "revoke.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  provider: users",
        "  cache: { ttl: 5m }",
        "  providers:",
        "    users:",
        "      use: redis",
        `      url: ${redis.url}`,
        "state:",
        "  store: redis",
        `  url: ${redis.url}`,
        "admin:",
        "  listen: 127.0.0.1:0",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    for (const user of ["alice", "bob"] as const) {
      const added = await runCli(["users", "add", user, "--config", file], { input: `${PASSWORDS[user]}\n` });
      assert.equal(added.code, 0, added.stderr);
    }
    [a, b] = await Promise.all([startCli(["--config", file]), startCli(["--config", file])]);
  });

  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    echo.close();
    await redis.stop();
    fixture.remove();
  });

  const login = (proxy: RunningCli, user: "alice" | "bob"): Promise<Attempt> =>
    attempt(proxy.ports[0]!, echo.port, { user, password: PASSWORDS[user] });

  it("gatehouse users disable alice closes her tunnels on both instances and drops her cached login", async () => {
    const [onA, onB, bobs] = await Promise.all([login(a, "alice"), login(b, "alice"), login(a, "bob")]);
    assert.deepEqual([onA.result, onB.result, bobs.result], [SUCCEEDED, SUCCEEDED, SUCCEEDED]);
    const fromA = a.stdout().length;
    const fromB = b.stdout().length;
    const disabled = await runCli(["users", "disable", "alice", "--config", file]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /revocation of alice published to 2 instances/);
    await Promise.all([closed(onA.socket), closed(onB.socket)]);
    for (const [proxy, from] of [
      [a, fromA],
      [b, fromB],
    ] as const) {
      const end = await proxy.waitForEvent("session_end", from);
      assert.equal(end.reason, "revoked");
      assert.equal((await proxy.waitForEvent("revoked", from)).identity, "alice");
    }
    assert.equal(await echoRoundTrip(bobs.socket, "still here"), "still here", "bob's tunnel lives on");
    // Her allow was cached for 5 minutes on a: the revocation dropped it, so the provider is asked.
    assert.equal((await login(a, "alice")).result, "auth_failed");
    bobs.socket.destroy();
  });

  it("users del of a user whose record maps another identity revokes that identity", async () => {
    const added = await runCli(["users", "add", "dave", "--identity", "dave@corp", "--config", file], {
      input: "dave-Pw-4\n",
    });
    assert.equal(added.code, 0, added.stderr);
    const tunnel = await attempt(a.ports[0]!, echo.port, { user: "dave", password: "dave-Pw-4" });
    assert.equal(tunnel.result, SUCCEEDED);
    const from = a.stdout().length;
    const deleted = await runCli(["users", "del", "dave", "--config", file]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /revocation of dave@corp published to 2 instances/);
    await closed(tunnel.socket);
    assert.equal((await a.waitForEvent("revoked", from)).identity, "dave@corp");
  });

  it("POST /api/revoke on one instance closes the identity's tunnels on both", async () => {
    const [onA, onB] = await Promise.all([login(a, "bob"), login(b, "bob")]);
    assert.deepEqual([onA.result, onB.result], [SUCCEEDED, SUCCEEDED]);
    const answer = await postRevoke(a.adminPort!, JSON.stringify({ identity: "bob" }));
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(JSON.parse(answer.text), { revoked: "bob" });
    await Promise.all([closed(onA.socket), closed(onB.socket)]);
    // Revoked is not disabled: bob logs in again.
    const again = await login(b, "bob");
    assert.equal(again.result, SUCCEEDED);
    again.socket.destroy();
  });

  it("POST /api/revoke refuses a body without an identity, and other methods", async () => {
    assert.equal((await postRevoke(a.adminPort!, "{}")).status, 400);
    assert.equal((await postRevoke(a.adminPort!, "not json")).status, 400);
    assert.equal((await adminGet(a.adminPort!, "/api/revoke")).status, 405);
  });
});

describe("state: redis with workers: 2 — one set of leases per instance", () => {
  const fixture = makeFixtureDir();
  const prefix = "gh-workers:";
  let redis: RedisServer;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: RunningCli;

  before(async () => {
    redis = await startRedis();
    echo = await startEcho();
    const file = fixture.write("workers.yaml", await fleetConfig(redis, prefix, { top: ["workers: 2"] }));
    // Round-robin, so that the logins land on both workers (with the default, a burst may all
    // go to one).
    proxy = await startCli(["--config", file], { NODE_CLUSTER_SCHED_POLICY: "rr" });
  });

  after(async () => {
    await proxy.stop();
    echo.close();
    await redis.stop();
    fixture.remove();
  });

  it("leases are the primary's (its instance name), the limit holds over both workers, a revocation reaches both", async () => {
    const attempts = await Promise.all(
      Array.from({ length: 6 }, () =>
        attempt(proxy.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice }),
      ),
    );
    const tunnels = granted(attempts);
    try {
      assert.equal(tunnels.length, 3, `results: ${attempts.map((one) => String(one.result)).join(",")}`);
      const members = (await redis.cli("ZRANGE", `${prefix}leases:identity:alice`, "0", "-1"))
        .trim()
        .split("\n")
        .filter((line) => line !== "");
      assert.equal(members.length, 3);
      const instances = new Set(members.map((member) => member.slice(0, member.lastIndexOf(":"))));
      assert.equal(instances.size, 1, `one instance: ${[...instances].join(", ")}`);
      const [instance] = [...instances];
      assert.match(instance!, new RegExp(`:${String(proxy.child.pid)}:[0-9a-f]+$`), "named after the primary's PID");
      // The logins landed on both workers (each logs its own auth lines).
      const workers = new Set(
        proxy
          .stdout()
          .split("\n")
          .filter((line) => line.includes('"event":"auth"') && line.includes('"outcome":"allow"'))
          .map((line) => (JSON.parse(line) as { worker?: number }).worker),
      );
      assert.deepEqual([...workers].sort(), [1, 2], "the logins landed on both workers");

      const from = proxy.stdout().length;
      const answer = await postRevoke(proxy.adminPort!, JSON.stringify({ identity: "alice" }));
      assert.equal(answer.status, 200, answer.text);
      await Promise.all(tunnels.map((one) => closed(one.socket)));
      const ends = await proxy.waitForEvents("session_end", tunnels.length, from);
      assert.ok(ends.every((end) => end.reason === "revoked"));
      await waitFor(async () => (await leaseCount(redis, `${prefix}leases:identity:alice`)) === 0, "leases released");
    } finally {
      closeAll(attempts);
    }
  });
});

/** A TCP relay to `targetPort` that the test can cut (every connection dropped, new ones refused) and restore. */
async function startCuttableRelay(
  targetPort: number,
): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: "127.0.0.1", port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    async cut() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
    restore: () => listen(port),
  };
}

describe("state: redis — an instance disconnected during a revocation catches up when it reconnects", () => {
  const fixture = makeFixtureDir();
  let redis: RedisServer;
  let relay: Awaited<ReturnType<typeof startCuttableRelay>>;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let direct: string;
  let a: RunningCli;
  let b: RunningCli;

  const config = (url: string): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      "auth:",
      "  provider: users",
      "  providers:",
      "    users:",
      "      use: redis",
      `      url: ${redis.url}`,
      "state:",
      "  store: redis",
      `  url: ${url}`,
      "  lease_ttl: 600ms",
      "  on_store_error: allow",
      "admin:",
      "  listen: 127.0.0.1:0",
      "shutdown_timeout: 1s",
    ].join("\n");

  before(async () => {
    redis = await startRedis();
    relay = await startCuttableRelay(redis.port);
    echo = await startEcho();
    direct = fixture.write("direct.yaml", config(redis.url));
    const relayed = fixture.write("relayed.yaml", config(`redis://127.0.0.1:${String(relay.port)}`));
    const added = await runCli(["users", "add", "alice", "--config", direct], { input: `${PASSWORDS.alice}\n` });
    assert.equal(added.code, 0, added.stderr);
    [a, b] = await Promise.all([startCli(["--config", direct]), startCli(["--config", relayed])]);
  });

  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    echo.close();
    await relay.restore().catch(() => undefined);
    await redis.stop();
    fixture.remove();
  });

  it("users disable while b cannot reach Redis: a closes at once, b when it is back", async () => {
    const [onA, onB] = await Promise.all(
      [a, b].map((proxy) => attempt(proxy.ports[0]!, echo.port, { user: "alice", password: PASSWORDS.alice })),
    );
    assert.deepEqual([onA!.result, onB!.result], [SUCCEEDED, SUCCEEDED]);
    const fromB = b.stdout().length;
    await relay.cut();
    // b's state client (the only one through the relay: its users provider goes straight to Redis).
    await b.waitForEvent("redis_connection_lost", fromB);
    const disabled = await runCli(["users", "disable", "alice", "--config", direct]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /revocation of alice published to 1 instances/, "only a heard it");
    await closed(onA!.socket);
    assert.equal(await echoRoundTrip(onB!.socket, "not yet"), "not yet", "b has not heard it");

    await relay.restore();
    await closed(onB!.socket, 10_000);
    const received = await b.waitForEvent("revocation_received", fromB);
    assert.equal(received.identity, "alice");
    assert.equal(received.caught_up, true);
    assert.equal((await b.waitForEvent("session_end", fromB)).reason, "revoked");
  });
});
