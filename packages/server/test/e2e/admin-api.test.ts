// The operator's admin API (issue 20) against the real `gatehouse` process: curl tunnels listed
// with who and where, filters and pages, closes by id / identity / peer that end the curl
// transfer (session_end reason closed_by_admin), recent auth decisions without passwords,
// provider reports, bearer-token access off loopback, `gatehouse sessions` and `workers: 2`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curlThrough } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir } from "../helpers/fixtures.js";
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
  return [
    "auth:",
    "  provider: local",
    "  providers:",
    "    local:",
    "      use: static",
    "      users:",
    `        alice: { password: "${alice}", groups: [staff] }`,
    `        bob: { password: "${bob}", groups: [ops] }`,
  ];
}

const credentials = (user: keyof typeof PASSWORDS): string => `${user}:${PASSWORDS[user]}`;

/** The parsed JSON lines of stdout from offset `since`. */
function lines(proxy: RunningCli, since = 0): Record<string, unknown>[] {
  return proxy
    .stdout()
    .slice(since)
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

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
    assert.equal(cache.hits + cache.misses, decisions.allowed! + decisions.denied! + decisions.failed!);
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
