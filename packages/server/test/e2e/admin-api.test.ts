// The operator's admin API (issue 20) against the real `gatehouse` process: curl tunnels listed
// with who and where, filters and pages, closes by id / identity / peer that end the curl
// transfer (session_end reason closed_by_admin), recent auth decisions without passwords,
// provider reports, bearer-token access off loopback, `gatehouse sessions` and `workers: 2`;
// `gatehouse users disable` without Redis state ends the user's tunnels through the admin API.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startRedis } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import type { RedisServer } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import { lines, runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curlThrough } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { api, listSessions, startStream, startTransfer } from "../helpers/admin-api.js";
import type { Listing, Transfer } from "../helpers/admin-api.js";
import { waitFor } from "../helpers/socks-attempt.js";

const PASSWORDS = { alice: "alice-Secret-71", bob: "bob-Secret-72" } as const;
const WRONG_PASSWORD = "not-Alices-password-99";
const TOKEN = "admin-token-0123456789abcdef";
/** Node's own switch: the primary accepts and hands connections to the workers in turn. */
const ROUND_ROBIN = { NODE_CLUSTER_SCHED_POLICY: "rr" };

async function authLines(): Promise<string[]> {
  const [alice, bob] = await Promise.all([
    hashPassword(PASSWORDS.alice, CHEAP_SCRYPT),
    hashPassword(PASSWORDS.bob, CHEAP_SCRYPT),
  ]);
  return staticAuthLines({ record: alice, groups: ["staff"] }, { bob: { record: bob, groups: ["ops"] } });
}

const credentials = (user: keyof typeof PASSWORDS): string => `${user}:${PASSWORDS[user]}`;

/** Resolves once the listing (with `query`) has `count` sessions with bytes flowing to each. */
async function waitForSessions(port: number, count: number, query = "", token?: string): Promise<Listing> {
  let listing: Listing | undefined;
  await waitFor(
    async () => {
      listing = await listSessions(port, query, token);
      return listing.total === count && listing.sessions.every((session) => session.bytes.down > 0);
    },
    `${String(count)} live sessions (${query})`,
  );
  return listing!;
}

/** The transfer ended soon after `since` (the tunnel was closed), not by curl's own 15 s limit. */
async function endedByClose(transfer: Transfer, since: number): Promise<void> {
  const outcome = await transfer.result;
  assert.notEqual(outcome.exitCode, 0, "the endless transfer did not complete");
  assert.notEqual(outcome.exitCode, 28, "curl did not run into its own time limit");
  assert.ok(outcome.endedAt - since < 5000, `ended ${String(outcome.endedAt - since)} ms after the close`);
}

describe("admin API: live sessions, closes, recent decisions and providers (one process)", () => {
  const fixture = makeFixtureDir();
  let stream: Awaited<ReturnType<typeof startStream>>;
  let proxy: RunningCli;
  let port: number;
  let admin: number;

  before(async () => {
    stream = await startStream();
    const file = fixture.write(
      "admin-api.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    name: main",
        "    require_auth: true",
        ...(await authLines()),
        "admin:",
        "  listen: 127.0.0.1:0",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    proxy = await startCli(["--config", file]);
    port = proxy.ports[0]!;
    admin = proxy.adminPort!;
  });

  after(async () => {
    await proxy.stop();
    stream.close();
    fixture.remove();
  });

  it("curl tunnels are listed with identity, groups, provider and destination; filters and pages", async () => {
    const transfers = [
      startTransfer(port, stream.port, credentials("alice")),
      startTransfer(port, stream.port, credentials("alice")),
      startTransfer(port, stream.port, credentials("bob")),
    ];
    const listing = await waitForSessions(admin, 3);
    assert.equal(listing.next_cursor, null);
    const alices = listing.sessions.filter((session) => session.identity === "alice");
    assert.equal(alices.length, 2);
    for (const session of listing.sessions) {
      assert.equal(session.listener, "main");
      assert.match(session.peer, /^127\.0\.0\.1:\d+$/);
      assert.equal(session.provider, "local");
      assert.equal(session.command, "connect");
      assert.deepEqual(session.destination, {
        name: "localhost",
        address: `127.0.0.1:${String(stream.port)}`,
        port: stream.port,
      });
      assert.ok(session.bytes.up > 0, "the HTTP request went up");
      assert.ok(["splice", "js"].includes(session.relay ?? ""), String(session.relay));
      assert.equal(session.worker, null);
      assert.ok(Date.parse(session.started) <= Date.parse(session.last_activity));
      assert.ok(Math.abs(Date.now() - Date.parse(session.started)) < 60_000, session.started);
    }
    assert.deepEqual(alices[0]!.groups, ["staff"]);
    const ids = listing.sessions.map((session) => Number(session.id));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      "in the order they were accepted",
    );

    const count = async (query: string): Promise<number> => (await listSessions(admin, query)).total;
    assert.equal(await count("identity=bob"), 1);
    assert.equal(await count("identity=carol"), 0);
    assert.equal(await count("group=staff"), 2);
    assert.equal(await count("group=ops&identity=alice"), 0);
    assert.equal(await count("peer=127.0.0.1"), 3);
    assert.equal(await count(`peer=${encodeURIComponent(alices[0]!.peer)}`), 1);
    assert.equal(await count("peer=10.0.0.1"), 0);
    assert.equal(await count("destination=localhost"), 3);
    assert.equal(await count(`destination=localhost:${String(stream.port)}`), 3);
    assert.equal(await count(`destination=127.0.0.1:${String(stream.port)}`), 3);
    assert.equal(await count("destination=example.com"), 0);

    // One page at a time: every session once, in order, each page saying the total.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Listing = await listSessions(admin, `limit=1${cursor === null ? "" : `&cursor=${cursor}`}`);
      assert.equal(page.total, 3);
      assert.equal(page.sessions.length, 1);
      paged.push(page.sessions[0]!.id);
      cursor = page.next_cursor;
    } while (cursor !== null);
    assert.deepEqual(
      paged,
      listing.sessions.map((session) => session.id),
    );

    for (const query of ["limit=0", "limit=1001", "limit=x", "cursor=abc", "cursor=-3"]) {
      const answer = await api(admin, `/api/sessions?${query}`);
      assert.equal(answer.status, 400, query);
      assert.equal(typeof (answer.body as { error?: unknown }).error, "string");
    }
    const closedAt = Date.now();
    assert.deepEqual((await api(admin, "/api/sessions/close", { body: { peer: "127.0.0.1" } })).body, { closed: 3 });
    await Promise.all(transfers.map((transfer) => endedByClose(transfer, closedAt)));
  });

  it("close by id ends that curl transfer only (session_end reason closed_by_admin)", async () => {
    const keep = startTransfer(port, stream.port, credentials("alice"));
    const listing = await waitForSessions(admin, 1);
    const kick = startTransfer(port, stream.port, credentials("bob"));
    const bobs = await waitForSessions(admin, 1, "identity=bob");
    const from = proxy.stdout().length;
    const closedAt = Date.now();
    const answer = await api(admin, "/api/sessions/close", { body: { id: bobs.sessions[0]!.id } });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, { closed: 1 });
    await endedByClose(kick, closedAt);
    const end = await proxy.waitForEvent("session_end", from);
    assert.equal(end.reason, "closed_by_admin");
    assert.equal(end.identity, "bob");
    const left = await listSessions(admin);
    assert.deepEqual(
      left.sessions.map((session) => session.id),
      [listing.sessions[0]!.id],
      "alice's tunnel stays",
    );

    assert.equal((await api(admin, "/api/sessions/close", { body: { id: bobs.sessions[0]!.id } })).status, 404);
    for (const body of ["", "[]", "{}", '{"id":""}', '{"identity":"a","peer":"b"}', '{"name":"x"}', "{"]) {
      assert.equal((await api(admin, "/api/sessions/close", { body })).status, 400, body);
    }
    assert.equal((await api(admin, "/api/sessions/close", { body: `{"identity":"${"x".repeat(5000)}"}` })).status, 413);
    const get = await api(admin, "/api/sessions/close");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    assert.equal((await api(admin, "/api/sessions", { method: "POST", body: "{}" })).status, 405);
    assert.equal((await api(admin, "/api/nothing")).status, 404);

    const closedAt2 = Date.now();
    assert.deepEqual((await api(admin, "/api/sessions/close", { body: { identity: "alice" } })).body, { closed: 1 });
    await endedByClose(keep, closedAt2);
  });

  it("a wrong password is in /api/auth/recent with its reason, and no password is anywhere", async () => {
    assert.equal(
      (await curlThrough(port, `http://localhost:${String(stream.port)}/`, `alice:${WRONG_PASSWORD}`)).exitCode,
      97,
    );
    const recent = await api(admin, "/api/auth/recent?limit=5");
    assert.equal(recent.status, 200);
    const decisions = (recent.body as { decisions: Record<string, unknown>[] }).decisions;
    assert.ok(decisions.length <= 5 && decisions.length > 0);
    const latest = decisions[0]!;
    assert.equal(latest.username, "alice");
    assert.equal(latest.outcome, "denied");
    assert.equal(latest.reason, "bad_credentials");
    assert.equal(latest.provider, "local");
    assert.match(String(latest.peer), /^127\.0\.0\.1:\d+$/);
    assert.equal(typeof latest.latency_ms, "number");
    assert.ok(Math.abs(Date.now() - Date.parse(String(latest.time))) < 60_000);
    assert.ok(
      decisions.some((decision) => decision.outcome === "allowed" && decision.reason === "ok"),
      "earlier allowed logins are listed too",
    );
    const times = decisions.map((decision) => String(decision.time));
    assert.deepEqual(times, [...times].sort().reverse(), "newest first");
    assert.equal((await api(admin, "/api/auth/recent?limit=0")).status, 400);

    const everything = [
      recent.text,
      (await api(admin, "/api/auth/recent?limit=1000")).text,
      (await api(admin, "/api/sessions")).text,
      (await api(admin, "/api/providers")).text,
      proxy.stdout(),
      proxy.stderr(),
    ].join("\n");
    for (const secret of [WRONG_PASSWORD, PASSWORDS.alice, PASSWORDS.bob]) assert.ok(!everything.includes(secret));
  });

  it("/api/providers: health, decisions by outcome, latency percentiles and cache hits", async () => {
    // A second identical login is answered from the decision cache.
    assert.equal(
      (await curlThrough(port, `http://localhost:${String(stream.port)}/`, `alice:${WRONG_PASSWORD}`)).exitCode,
      97,
    );
    const answer = await api(admin, "/api/providers");
    assert.equal(answer.status, 200);
    const [local, ...others] = (answer.body as { providers: Record<string, unknown>[] }).providers;
    assert.equal(others.length, 0);
    assert.equal(local!.name, "local");
    assert.equal(local!.health, "ok");
    assert.equal(local!.message, null);
    const decisions = local!.decisions as Record<string, number>;
    assert.ok(decisions.allowed! >= 5, JSON.stringify(decisions));
    assert.ok(decisions.denied! >= 2, JSON.stringify(decisions));
    assert.equal(decisions.failed, 0);
    const latency = local!.latency_ms as Record<string, number>;
    assert.ok(
      latency.p50! > 0 && latency.p50! <= latency.p90! && latency.p90! <= latency.p99!,
      JSON.stringify(latency),
    );
    const cache = local!.cache as { hits: number; misses: number; hit_ratio: number };
    assert.ok(cache.hits >= 1, "the repeated wrong password was a cache hit");
    assert.equal(cache.hits + cache.misses, decisions.allowed! + decisions.denied! + decisions.failed);
    assert.equal(cache.hit_ratio, Math.round((cache.hits / (cache.hits + cache.misses)) * 10_000) / 10_000);
  });

  it("gatehouse sessions list and close talk to the running server", async () => {
    const url = `http://127.0.0.1:${String(admin)}`;
    const transfer = startTransfer(port, stream.port, credentials("alice"));
    const listing = await waitForSessions(admin, 1);
    const table = await runCli(["sessions", "list", "--admin", url, "--identity", "alice"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+IDENTITY\s+PEER\s+DESTINATION\s+UP\s+DOWN\s+AGE\s+RELAY$/m);
    assert.match(
      table.stdout,
      new RegExp(
        `^${listing.sessions[0]!.id}\\s+alice\\s+127\\.0\\.0\\.1:\\d+\\s+localhost:${String(stream.port)} `,
        "m",
      ),
    );
    assert.match(table.stdout, /^1 session$/m);
    const none = await runCli(["sessions", "list", "--admin", url, "--identity", "bob"]);
    assert.equal(none.stdout, "0 sessions\n");
    const json = await runCli(["sessions", "list", "--admin", url, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as Listing;
    assert.equal(parsed.total, 1);
    assert.equal(parsed.sessions[0]!.identity, "alice");

    const from = proxy.stdout().length;
    const closedAt = Date.now();
    const closed = await runCli(["sessions", "close", "--identity", "alice", "--admin", url]);
    assert.equal(closed.code, 0, closed.stderr);
    assert.equal(closed.stdout, "closed 1 session (identity alice)\n");
    await endedByClose(transfer, closedAt);
    assert.equal((await proxy.waitForEvent("session_end", from)).reason, "closed_by_admin");

    const missing = await runCli(["sessions", "close", "--id", "999999", "--admin", url]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /GH_ADMIN_REFUSED.*404.*no live session with id 999999/);
    const usage = await runCli(["sessions", "close", "--admin", url]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /GH_CLI_USAGE/);
  });

  it("every admin action is logged with who did it", () => {
    const actions = lines(proxy).filter((line) => line.event === "admin_action");
    assert.ok(actions.length >= 4, JSON.stringify(actions));
    for (const action of actions) {
      assert.match(String(action.peer), /^127\.0\.0\.1:\d+$/);
      assert.equal(action.token, false);
    }
    assert.ok(actions.some((action) => action.action === "close_sessions" && action.identity === "alice"));
    assert.ok(actions.some((action) => action.action === "close_sessions" && typeof action.id === "string"));
  });
});

describe("admin API access: a bearer token off loopback", () => {
  const fixture = makeFixtureDir();
  let stream: Awaited<ReturnType<typeof startStream>>;
  let auth: string[];

  before(async () => {
    stream = await startStream();
    auth = await authLines();
  });
  after(() => {
    stream.close();
    fixture.remove();
  });

  const config = (admin: readonly string[]): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      ...auth,
      "admin:",
      ...admin,
      "shutdown_timeout: 1s",
    ].join("\n");

  it("a non-loopback admin.listen without a token is a config error", async () => {
    const file = fixture.write("open.yaml", config(["  listen: 0.0.0.0:0"]));
    for (const args of [
      ["check-config", file],
      ["--config", file],
    ]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /admin\.listen: 0\.0\.0\.0:0 is not a loopback address: set admin\.token or admin\.token_file/,
      );
    }
    const both = fixture.write(
      "both.yaml",
      config(["  listen: 0.0.0.0:0", `  token: ${TOKEN}`, "  token_file: token.txt"]),
    );
    assert.match(
      (await runCli(["check-config", both])).stderr,
      /admin\.token_file: give either token or token_file, not both/,
    );
    const short = fixture.write("short.yaml", config(["  listen: 0.0.0.0:0", "  token: abc"]));
    assert.match((await runCli(["check-config", short])).stderr, /admin\.token: must be at least 16 characters/);
    const missing = fixture.write("missing.yaml", config(["  listen: 0.0.0.0:0", "  token_file: no-such-token.txt"]));
    const unreadable = await runCli(["check-config", missing]);
    assert.equal(unreadable.code, 2);
    assert.match(unreadable.stderr, /GH_CONFIG_FILE_UNREADABLE[\s\S]*admin\.token_file: cannot read/);
  });

  it("with admin.token_file: 401 without or with a wrong token, 200 with it; the CLI sends GATEHOUSE_ADMIN_TOKEN", async () => {
    fixture.write("token.txt", `${TOKEN}\n`);
    const file = fixture.write("token.yaml", config(["  listen: 0.0.0.0:0", "  token_file: token.txt"]));
    const proxy = await startCli(["--config", file]);
    try {
      const admin = proxy.adminPort!;
      const missing = await api(admin, "/api/sessions");
      assert.equal(missing.status, 401);
      assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer /);
      assert.deepEqual(missing.body, { error: "an Authorization: Bearer token is required" });
      const wrong = await api(admin, "/api/sessions", { token: `${TOKEN}x` });
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get("www-authenticate") ?? "", /^Bearer .*error="invalid_token"/);
      assert.equal((await api(admin, "/api/sessions/close", { body: { identity: "alice" } })).status, 401);
      assert.equal((await api(admin, "/api/sessions", { token: TOKEN })).status, 200);
      for (const path of ["/api/auth/recent", "/api/providers"]) {
        assert.equal((await api(admin, path)).status, 401, path);
        assert.equal((await api(admin, path, { token: TOKEN })).status, 200, path);
      }
      assert.equal((await api(admin, "/metrics")).status, 200, "scrapers and probes need no token");
      assert.equal((await api(admin, "/healthz")).status, 200);

      const url = `http://127.0.0.1:${String(admin)}`;
      const transfer = startTransfer(proxy.ports[0]!, stream.port, credentials("bob"));
      await waitForSessions(admin, 1, "", TOKEN);
      const refused = await runCli(["sessions", "list", "--admin", url]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /GH_ADMIN_REFUSED.*401.*GATEHOUSE_ADMIN_TOKEN/);
      const listed = await runCli(["sessions", "list", "--admin", url], { env: { GATEHOUSE_ADMIN_TOKEN: TOKEN } });
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /\sbob\s/);
      // --config: the admin address is the config's (0.0.0.0:port is not reachable as such: --admin) and so is the token.
      const closedAt = Date.now();
      const closed = await runCli(["sessions", "close", "--identity", "bob", "--admin", url, "--config", file]);
      assert.equal(closed.code, 0, closed.stderr);
      assert.equal(closed.stdout, "closed 1 session (identity bob)\n");
      await endedByClose(transfer, closedAt);

      const logged = lines(proxy);
      const action = logged.find((line) => line.event === "admin_action");
      assert.ok(action !== undefined, "logged");
      assert.equal(action.token, true);
      assert.match(String(action.peer), /^127\.0\.0\.1:\d+$/);
      const refusal = logged.find((line) => line.event === "admin_refused");
      assert.ok(refusal !== undefined, "logged");
      assert.equal(refusal.status, 401);
      assert.ok(!proxy.stdout().includes(TOKEN), "the token is never logged");
    } finally {
      await proxy.stop();
    }
  });
});

describe("admin API with workers: 2 — gathered from both workers", () => {
  const fixture = makeFixtureDir();
  let stream: Awaited<ReturnType<typeof startStream>>;
  let proxy: RunningCli;
  let admin: number;
  let port: number;

  before(async () => {
    stream = await startStream();
    const file = fixture.write(
      "workers.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        ...(await authLines()),
        "workers: 2",
        "admin:",
        "  listen: 127.0.0.1:0",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    proxy = await startCli(["--config", file], ROUND_ROBIN);
    admin = proxy.adminPort!;
    port = proxy.ports[0]!;
  });
  after(async () => {
    await proxy.stop();
    stream.close();
    fixture.remove();
  });

  it("lists, pages and closes sessions across workers; recent decisions and providers from both", async () => {
    // Round-robin: four transfers started one after the other land on both workers.
    const transferOf = new Map<string, Transfer>();
    for (let index = 0; index < 4; index++) {
      const transfer = startTransfer(port, stream.port, credentials(index === 3 ? "bob" : "alice"));
      const now = await waitForSessions(admin, index + 1);
      const added = now.sessions.filter((session) => !transferOf.has(session.id));
      assert.equal(added.length, 1);
      transferOf.set(added[0]!.id, transfer);
    }
    const listing = await listSessions(admin);
    assert.equal(listing.total, 4);
    assert.deepEqual(listing.unanswered_workers, []);
    assert.deepEqual([...new Set(listing.sessions.map((session) => session.worker))].sort(), [1, 2]);
    for (const session of listing.sessions) assert.match(session.id, new RegExp(`^${String(session.worker)}-\\d+$`));

    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Listing = await listSessions(admin, `limit=1${cursor === null ? "" : `&cursor=${cursor}`}`);
      assert.equal(page.total, 4);
      paged.push(...page.sessions.map((session) => session.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    assert.deepEqual(
      paged,
      listing.sessions.map((session) => session.id),
    );
    assert.equal((await listSessions(admin, "identity=alice")).total, 3);
    assert.equal((await api(admin, "/api/sessions?cursor=17")).status, 400, "a cursor names its worker");

    // Close by id: one session of worker 2.
    const target = listing.sessions.find((session) => session.worker === 2)!;
    const from = proxy.stdout().length;
    let closedAt = Date.now();
    assert.deepEqual((await api(admin, "/api/sessions/close", { body: { id: target.id } })).body, { closed: 1 });
    await endedByClose(transferOf.get(target.id)!, closedAt);
    const end = lines(proxy, from).find((line) => line.event === "session_end");
    assert.ok(end !== undefined, "logged");
    assert.equal(end.reason, "closed_by_admin");
    assert.equal(end.worker, 2);
    assert.equal((await api(admin, "/api/sessions/close", { body: { id: target.id } })).status, 404);
    assert.equal((await api(admin, "/api/sessions/close", { body: { id: "9-1" } })).status, 404);

    // Close by identity: alice's tunnels on both workers.
    const alicesLeft = (await listSessions(admin, "identity=alice")).total;
    closedAt = Date.now();
    assert.deepEqual((await api(admin, "/api/sessions/close", { body: { identity: "alice" } })).body, {
      closed: alicesLeft,
    });
    await Promise.all(
      listing.sessions
        .filter((session) => session.identity === "alice" && session !== target)
        .map((session) => endedByClose(transferOf.get(session.id)!, closedAt)),
    );
    assert.deepEqual(
      (await listSessions(admin)).sessions.map((session) => session.identity),
      ["bob"],
    );

    // Two wrong passwords, one per worker: both in the merged recent decisions.
    for (let index = 0; index < 2; index++) {
      assert.equal(
        (await curlThrough(port, `http://localhost:${String(stream.port)}/`, `bob:${WRONG_PASSWORD}`)).exitCode,
        97,
      );
    }
    const decisions = ((await api(admin, "/api/auth/recent")).body as { decisions: Record<string, unknown>[] })
      .decisions;
    assert.equal(decisions.filter((decision) => decision.reason === "bad_credentials").length, 2);
    assert.equal(decisions.filter((decision) => decision.outcome === "allowed").length, 4);
    const deniedOn = lines(proxy)
      .filter((line) => line.event === "auth" && line.outcome === "deny")
      .map((line) => line.worker);
    assert.deepEqual([...new Set(deniedOn)].sort(), [1, 2], "the two wrong passwords landed on both workers");
    const providers = ((await api(admin, "/api/providers")).body as { providers: Record<string, unknown>[] }).providers;
    assert.equal(providers.length, 1);
    assert.deepEqual(providers[0]!.decisions, { allowed: 4, denied: 2, failed: 0 });
    assert.equal(providers[0]!.health, "ok");

    closedAt = Date.now();
    assert.deepEqual((await api(admin, "/api/sessions/close", { body: { peer: "127.0.0.1" } })).body, { closed: 1 });
    const bobs = listing.sessions.find((session) => session.identity === "bob")!;
    await endedByClose(transferOf.get(bobs.id)!, closedAt);

    // A worker that cannot answer (stopped by SIGSTOP, as a hung event loop would be): after the
    // 2 s IPC deadline the listing comes from the other worker alone and names the stopped one.
    const kept = startTransfer(port, stream.port, credentials("alice"));
    const both = await waitForSessions(admin, 1);
    const workerOf = (worker: number): number =>
      lines(proxy).find((line) => line.worker === worker && typeof line.pid === "number")!.pid as number;
    const alive = both.sessions[0]!.worker!;
    const stopped = alive === 1 ? 2 : 1;
    process.kill(workerOf(stopped), "SIGSTOP");
    try {
      const started = Date.now();
      const partial = await listSessions(admin);
      assert.deepEqual(partial.unanswered_workers, [stopped]);
      assert.equal(partial.total, 1, "the answering worker's tunnel is listed");
      assert.ok(Date.now() - started < 4000, "answered within the IPC deadline");
      const table = await runCli(["sessions", "list", "--admin", `http://127.0.0.1:${String(admin)}`]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^1 session \(ids are WORKER-SESSION\)$/m);
      assert.match(
        table.stdout,
        new RegExp(`^worker ${String(stopped)} did not answer in time: its sessions are missing above$`, "m"),
      );
    } finally {
      process.kill(workerOf(stopped), "SIGCONT");
    }
    assert.deepEqual((await listSessions(admin)).unanswered_workers, []);
    closedAt = Date.now();
    assert.deepEqual((await api(admin, "/api/sessions/close", { body: { identity: "alice" } })).body, { closed: 1 });
    await endedByClose(kept, closedAt);
  });
});

describe("gatehouse users disable without Redis state: the instance's admin API ends the user's tunnels", () => {
  const fixture = makeFixtureDir();
  let redis: RedisServer;
  let stream: Awaited<ReturnType<typeof startStream>>;
  let proxy: RunningCli;
  let file: string;

  before(async () => {
    redis = await startRedis();
    stream = await startStream();
    fixture.write("token.txt", TOKEN);
    file = fixture.write(
      "users.yaml",
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
        "admin:",
        "  listen: 127.0.0.1:0",
        "  token_file: token.txt",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    for (const user of ["alice", "bob"] as const) {
      const added = await runCli(["users", "add", user, "--config", file], { input: `${PASSWORDS[user]}\n` });
      assert.equal(added.code, 0, added.stderr);
    }
    proxy = await startCli(["--config", file]);
  });
  after(async () => {
    await proxy.stop();
    stream.close();
    await redis.stop();
    fixture.remove();
  });

  it("bob's transfer ends (reason revoked), his cached login is forgotten, alice's tunnel stays", async () => {
    const admin = proxy.adminPort!;
    const port = proxy.ports[0]!;
    const bobs = startTransfer(port, stream.port, credentials("bob"));
    const alices = startTransfer(port, stream.port, credentials("alice"));
    await waitForSessions(admin, 2, "", TOKEN);
    const from = proxy.stdout().length;
    const disabledAt = Date.now();
    const url = `http://127.0.0.1:${String(admin)}`;
    const disabled = await runCli(["users", "disable", "bob", "--config", file, "--admin", url]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.equal(
      disabled.stdout,
      `user bob disabled\ntunnels of bob ended and cached logins forgotten on the instance at ${url}\n`,
    );
    await endedByClose(bobs, disabledAt);
    const end = await proxy.waitForEvent("session_end", from);
    assert.equal(end.reason, "revoked");
    assert.equal(end.identity, "bob");
    const action = lines(proxy, from).find((line) => line.event === "admin_action");
    assert.ok(action !== undefined, "logged");
    assert.equal(action.action, "revoke");
    assert.equal(action.token, true, "the token came from the config's token_file");
    // His allow was cached for 5 minutes: forgotten, so the store (which says disabled) is asked.
    assert.equal(
      (await curlThrough(port, `http://localhost:${String(stream.port)}/`, credentials("bob"))).exitCode,
      97,
    );
    const left = await listSessions(admin, "", TOKEN);
    assert.deepEqual(
      left.sessions.map((session) => session.identity),
      ["alice"],
    );
    const closedAt = Date.now();
    assert.deepEqual((await api(admin, "/api/sessions/close", { body: { identity: "alice" }, token: TOKEN })).body, {
      closed: 1,
    });
    await endedByClose(alices, closedAt);
  });

  it("an unreachable admin API is an error that says the user changed but the tunnels stay", async () => {
    const result = await runCli(["users", "disable", "alice", "--config", file, "--admin", "http://127.0.0.1:2"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /GH_ADMIN_UNREACHABLE[\s\S]*users alice changed, but its tunnels were not ended/);
  });
});
