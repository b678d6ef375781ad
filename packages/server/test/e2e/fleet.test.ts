// A fleet as docs/deploy.md describes it, from the very files in examples/deploy/: a real HAProxy
// (haproxy.cfg: mode tcp, send-proxy-v2, health checks) in front of two `gatehouse` processes
// (gatehouse.yaml: PROXY protocol, users and shared state in Redis) and one real redis-server
// (persisting, as a production one would), all on 127.0.0.1. Clients go through HAProxy; where a
// test must reach one instance in particular it connects to it straight from 127.0.0.1 (a trusted
// balancer address) and sends the PROXY v2 header itself, as HAProxy does.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { serializeProxyHeaderV2 } from "@gatehouse-proxy/core/engine";
import { startRedis } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import type { RedisServer } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import { runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curl, startHttp } from "../helpers/curl.js";
import { makeFixtureDir } from "../helpers/fixtures.js";
import { haproxyBinary, startHaproxyInFront } from "../helpers/haproxy.js";
import type { RunningHaproxy } from "../helpers/haproxy.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { NOT_ALLOWED, SUCCEEDED, attempt, closed, waitFor } from "../helpers/socks-attempt.js";
import type { Attempt } from "../helpers/socks-attempt.js";
import { echoRoundTrip, startEcho } from "../helpers/tunnel.js";

const EXAMPLE = join(REPO_ROOT, "examples", "deploy", "gatehouse.yaml");
const PASSWORDS = { alice: "alice-Fleet-1", bob: "bob-Fleet-2", carol: "carol-Fleet-3" } as const;
type User = keyof typeof PASSWORDS;
/** The example's lease_ttl is 15 s; the kill -9 test would wait that long. Nothing else changes. */
const LEASE_TTL_LINE = "lease_ttl: 15s";
const LEASE_TTL_MS = 1000;

function exampleWithShortLeases(): string {
  const text = readFileSync(EXAMPLE, "utf8");
  assert.equal(text.split(LEASE_TTL_LINE).length, 2, `examples/deploy/gatehouse.yaml has "${LEASE_TTL_LINE}" once`);
  return text.replace(LEASE_TTL_LINE, `lease_ttl: ${String(LEASE_TTL_MS)}ms`);
}

/** A PROXY v2 header naming `client` (port 40000 + n) as the connection's source. */
function proxyHeader(client: string, n = 0): Buffer {
  return serializeProxyHeaderV2({ address: client, port: 40_000 + n }, { address: "127.0.0.1", port: 1080 });
}

function granted(attempts: readonly Attempt[]): Attempt[] {
  return attempts.filter((one) => one.result === SUCCEEDED);
}

function closeAll(attempts: readonly Attempt[]): void {
  for (const { socket } of attempts) socket.destroy();
}

/** The JSON lines of `event` a gatehouse wrote after `from` characters. */
function events(gatehouse: RunningCli, event: string, from = 0): Record<string, unknown>[] {
  return gatehouse
    .stdout()
    .slice(from)
    .split("\n")
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("a fleet: HAProxy (PROXY v2) → two gatehouse processes → one Redis (examples/deploy)", () => {
  const fixture = makeFixtureDir();
  let redis: RedisServer;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let http: { server: Server; port: number } | undefined;
  let config: string;
  let env: NodeJS.ProcessEnv;
  const instances: RunningCli[] = [];
  let haproxy: RunningHaproxy | undefined;
  let frontend = 0;

  const viaHaproxy = (user: User, localAddress = "127.0.0.2", password: string = PASSWORDS[user]): Promise<Attempt> =>
    attempt(frontend, echo.port, { user, password, localAddress });
  /** Straight to instance `index`, with a PROXY header naming `client`. */
  const direct = (
    index: number,
    user: User,
    client = "127.0.0.2",
    password: string = PASSWORDS[user],
  ): Promise<Attempt> =>
    attempt(instances[index]!.ports[0]!, echo.port, { user, password, prefix: proxyHeader(client, index) });
  const leaseMembers = async (identity: string): Promise<string[]> =>
    (await redis.cli("ZRANGE", `gatehouse:state:leases:identity:${identity}`, "0", "-1"))
      .trim()
      .split("\n")
      .filter((line) => line !== "");

  before(async () => {
    haproxyBinary(); // fails the suite at once, with the package to install
    // Every write on disk before it is acknowledged: a kill -9 loses nothing, as in production.
    redis = await startRedis({ extraArgs: ["--appendonly", "yes", "--appendfsync", "always"] });
    echo = await startEcho();
    http = await startHttp();
    config = fixture.write("gatehouse.yaml", exampleWithShortLeases());
    env = {
      GATEHOUSE_LISTEN: "127.0.0.1:0",
      GATEHOUSE_BALANCERS: "127.0.0.1/32",
      GATEHOUSE_CLIENTS: "127.0.0.2/31", // 127.0.0.2 and 127.0.0.3
      GATEHOUSE_ADMIN: "127.0.0.1:0",
      GATEHOUSE_ADMIN_TOKEN: "fleet-test-admin-token",
      REDIS_URL: redis.url,
    };
    for (const user of Object.keys(PASSWORDS) as User[]) {
      const added = await runCli(["users", "add", user, "--config", config], { input: `${PASSWORDS[user]}\n`, env });
      assert.equal(added.code, 0, added.stderr);
    }
    instances.push(...(await Promise.all([startCli(["--config", config], env), startCli(["--config", config], env)])));
    ({ haproxy, frontendPort: frontend } = await startHaproxyInFront(instances, "socks"));
  });

  after(async () => {
    await haproxy?.stop();
    await Promise.all(instances.map((instance) => instance.stop()));
    http?.server.close();
    echo.close();
    await redis.stop();
    fixture.remove();
  });

  it("curl on 127.0.0.2 through HAProxy reaches the destination; each instance logs curl's own address; 127.0.0.4 is outside the from: rule", async () => {
    const url = `http://127.0.0.1:${String(http!.port)}/fleet`;
    const seen: string[] = [];
    for (let n = 0; n < 6; n++) {
      const result = await curl([
        "--socks5-hostname",
        `127.0.0.1:${String(frontend)}`,
        "--proxy-user",
        `carol:${PASSWORDS.carol}`,
        "--interface",
        "127.0.0.2",
        "--write-out",
        "\n%{local_ip}:%{local_port}",
        url,
      ]);
      assert.equal(result.exitCode, 0, `curl exit ${String(result.exitCode)}; haproxy: ${haproxy!.output()}`);
      const [body, address] = result.stdout.split("\n");
      assert.equal(body, "hello /fleet");
      seen.push(address!);
    }
    await waitFor(
      () => instances.reduce((sum, instance) => sum + events(instance, "session_end").length, 0) >= seen.length,
      "every curl's session_end line",
    );
    const ends = instances.map((instance) => events(instance, "session_end"));
    assert.ok(
      ends.every((lines) => lines.length > 0),
      "leastconn spread the curls over both instances",
    );
    for (const address of seen) {
      const line = ends.flat().find((entry) => entry.peer === address);
      assert.ok(line !== undefined, `a session_end with peer ${address}`);
      assert.equal(line.identity, "carol");
    }

    const outside = await curl([
      "--socks5-hostname",
      `127.0.0.1:${String(frontend)}`,
      "--proxy-user",
      `carol:${PASSWORDS.carol}`,
      "--interface",
      "127.0.0.4",
      url,
    ]);
    assert.equal(outside.exitCode, 97, "the SOCKS request is refused");
    await waitFor(
      () => instances.some((instance) => events(instance, "policy_denied").length > 0),
      "the policy_denied line",
    );
    const denied = instances.flatMap((instance) => events(instance, "policy_denied"));
    assert.equal(denied.length, 1);
    assert.match(String(denied[0]!.peer_address), /^127\.0\.0\.4:\d+$/);
    assert.equal(denied[0]!.rule, "default");
  });

  it("a per-identity limit of 3 holds across both instances (exact under a burst through HAProxy)", async () => {
    const held = [await direct(0, "alice"), await direct(0, "alice"), await direct(1, "alice")];
    try {
      assert.deepEqual(
        held.map((one) => one.result),
        [SUCCEEDED, SUCCEEDED, SUCCEEDED],
      );
      const members = await leaseMembers("alice");
      assert.equal(members.length, 3);
      const owners = new Set(members.map((member) => member.slice(0, member.lastIndexOf(":"))));
      assert.equal(owners.size, 2, `leases of both instances: ${members.join(", ")}`);
      for (const index of [0, 1]) {
        assert.equal((await direct(index, "alice")).result, NOT_ALLOWED, `a fourth on instance ${String(index)}`);
      }
      for (let n = 0; n < 4; n++) assert.equal((await viaHaproxy("alice")).result, NOT_ALLOWED);
      held.pop()!.socket.destroy();
      await waitFor(async () => (await leaseMembers("alice")).length === 2, "the lease given back");
      const again = await viaHaproxy("alice");
      assert.equal(again.result, SUCCEEDED, "one place is free again");
      held.push(again);
    } finally {
      closeAll(held);
    }
    await waitFor(async () => (await leaseMembers("alice")).length === 0, "every lease given back");

    const burst = await Promise.all(Array.from({ length: 8 }, () => viaHaproxy("alice")));
    try {
      assert.equal(granted(burst).length, 3, `results: ${burst.map((one) => String(one.result)).join(",")}`);
      assert.ok(burst.every((one) => one.result === SUCCEEDED || one.result === NOT_ALLOWED));
    } finally {
      closeAll(burst);
    }
    await waitFor(async () => (await leaseMembers("alice")).length === 0, "every lease given back");
  });

  it("failures on both instances add up: the fifth blocks 127.0.0.3 on both, and through HAProxy", async () => {
    // max_failures is 5: three on one instance and two on the other; neither saw five.
    for (const index of [0, 1, 0, 1, 0]) {
      const failed = await direct(index, "bob", "127.0.0.3", "wrong-password");
      assert.equal(failed.result, "auth_failed");
    }
    await waitFor(
      async () => (await redis.cli("EXISTS", "gatehouse:state:throttle:blocked:address:127.0.0.3")).trim() === "1",
      "the address block in Redis",
    );
    for (const index of [0, 1]) {
      const refused = await direct(index, "bob", "127.0.0.3");
      assert.equal(refused.result, "auth_failed", `the right password from 127.0.0.3 on instance ${String(index)}`);
    }
    assert.equal((await viaHaproxy("bob", "127.0.0.3")).result, "auth_failed");
    const elsewhere = await viaHaproxy("bob", "127.0.0.2");
    assert.equal(elsewhere.result, SUCCEEDED, "bob from another address logs in");
    elsewhere.socket.destroy();
  });

  it("gatehouse users disable closes the user's tunnels on both instances; another user's tunnel lives on", async () => {
    const mine = [await direct(0, "carol"), await direct(1, "carol"), await viaHaproxy("carol")];
    const other = await viaHaproxy("alice");
    assert.deepEqual(
      [...mine, other].map((one) => one.result),
      [SUCCEEDED, SUCCEEDED, SUCCEEDED, SUCCEEDED],
    );
    const from = instances.map((instance) => instance.stdout().length);
    const disabled = await runCli(["users", "disable", "carol", "--config", config], { env });
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /revocation of carol published to 2 instances/);
    await Promise.all(mine.map((one) => closed(one.socket)));
    for (const [index, instance] of instances.entries()) {
      const revoked = await instance.waitForEvent("revoked", from[index]);
      assert.equal(revoked.identity, "carol");
    }
    const ends = instances.flatMap((instance, index) => events(instance, "session_end", from[index]));
    assert.ok(
      ends.filter((end) => end.identity === "carol").every((end) => end.reason === "revoked"),
      JSON.stringify(ends),
    );
    assert.equal(await echoRoundTrip(other.socket, "alice stays"), "alice stays");
    other.socket.destroy();
    for (const index of [0, 1]) assert.equal((await direct(index, "carol")).result, "auth_failed", "disabled");
  });

  it("Redis killed: new tunnels are refused (on_store_error: deny), open ones live on; Redis back: both instances serve again", async (t) => {
    const open = await viaHaproxy("alice");
    assert.equal(open.result, SUCCEEDED);
    const from = instances.map((instance) => instance.stdout().length);
    await redis.kill();
    for (const index of [0, 1]) {
      const refused = await direct(index, "alice");
      assert.notEqual(refused.result, SUCCEEDED, `instance ${String(index)} fails closed`);
      refused.socket.destroy();
      await instances[index]!.waitForEvent("state_store_unavailable", from[index]);
    }
    assert.notEqual((await viaHaproxy("bob")).result, SUCCEEDED);
    assert.equal(await echoRoundTrip(open.socket, "during the outage"), "during the outage");

    await redis.restart();
    const back = Date.now();
    for (const index of [0, 1]) {
      let served: Attempt | undefined;
      await waitFor(
        async () => {
          const one = await direct(index, "alice");
          if (one.result === SUCCEEDED) served = one;
          else one.socket.destroy();
          return served !== undefined;
        },
        `instance ${String(index)} to serve again`,
        15_000,
      );
      served!.socket.destroy();
      await instances[index]!.waitForEvent("state_store_recovered", from[index]);
    }
    t.diagnostic(`both instances served again ${String(Date.now() - back)} ms after Redis was ready`);
    // The tunnel opened before the outage holds its lease again (renewed into the restarted Redis).
    await waitFor(async () => (await leaseMembers("alice")).length === 1, "the open tunnel's lease renewed");
    open.socket.destroy();
    await waitFor(async () => (await leaseMembers("alice")).length === 0, "its lease given back");
  });

  it("kill -9 of one instance: its leases expire within lease_ttl and HAProxy sends new clients to the other", async (t) => {
    const held = await Promise.all([direct(1, "alice"), direct(1, "alice"), direct(1, "alice")]);
    assert.deepEqual(
      held.map((one) => one.result),
      [SUCCEEDED, SUCCEEDED, SUCCEEDED],
    );
    assert.equal(
      (await direct(0, "alice")).result,
      NOT_ALLOWED,
      "the killed instance's leases count until they expire",
    );
    const survivorFrom = instances[0]!.stdout().length;
    await instances[1]!.stop("SIGKILL");
    const killedAt = Date.now();
    let first: Attempt | undefined;
    await waitFor(
      async () => {
        const one = await viaHaproxy("alice");
        if (one.result === SUCCEEDED) first = one;
        else one.socket.destroy();
        return first !== undefined;
      },
      "a tunnel for alice through HAProxy",
      LEASE_TTL_MS + 5000,
    );
    const freedMs = Date.now() - killedAt;
    t.diagnostic(`alice's leases on the killed instance freed ${String(freedMs)} ms after kill -9 (lease_ttl 1 s)`);
    assert.ok(freedMs < LEASE_TTL_MS + 1500, `freed after ${String(freedMs)} ms`);
    first!.socket.destroy();
    closeAll(held);

    // Every new client through HAProxy is served, by the survivor.
    for (let n = 0; n < 5; n++) {
      const one = await viaHaproxy("bob");
      assert.equal(one.result, SUCCEEDED, `client ${String(n)} after the kill; haproxy: ${haproxy!.output()}`);
      one.socket.destroy();
    }
    await waitFor(
      () => events(instances[0]!, "session_end", survivorFrom).filter((end) => end.identity === "bob").length === 5,
      "the survivor's session_end lines for the five clients",
    );
  });
});
