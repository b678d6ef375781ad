// The operator's view of one process, composed as `gatehouse` composes it (engine, AuthActivity,
// ProcessView, the admin server) but in this process, on a simulated clock: last_activity, the
// token guard and its log lines, provider health reuse, closes with their session_end reason.
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { AuthProvider, Logger } from "@gatehouse-proxy/core";
import { ManualClock, createProxyServer } from "@gatehouse-proxy/core/engine";
import type { ProxyServer, SessionRecord } from "@gatehouse-proxy/core/engine";
import { AuthActivity, Registry, combineHooks, createAdminServer } from "@gatehouse-proxy/observability";
import type { AdminServer, SessionListing } from "@gatehouse-proxy/observability";
import { ProcessView } from "../../dist/operator/process-view.js";
import { HEALTH_REUSE_MS, ProviderHealthCheck } from "../../dist/operator/provider-health.js";
import { singleProcessOperator } from "../../dist/operator/single-process.js";
import type { ProviderInstance } from "../../dist/wiring/create-providers.js";
import { echoRoundTrip, openTunnel, startEcho } from "../helpers/tunnel.js";

const TOKEN = "unit-admin-token-0123456789";
const PASSWORDS: Record<string, string> = { alice: "alice-unit-pw-1", bob: "bob-unit-pw-2" };

/** A logger that keeps every line. */
function recordingLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const write = (fields: object, message?: string): void => {
    lines.push({ ...fields, msg: message });
  };
  const logger = { lines, debug: write, info: write, warn: write, error: write, child: () => logger };
  return logger;
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once("close", () => resolve());
  });
}

describe("the operator's view of one process (engine on a simulated clock)", () => {
  const clock = new ManualClock();
  const ended: SessionRecord[] = [];
  const logger = recordingLogger();
  let healthCalls = 0;
  let healthy = true;
  const provider: AuthProvider = {
    name: "corp",
    authenticate(request) {
      const ok = PASSWORDS[request.username] === request.password;
      return Promise.resolve(
        ok
          ? {
              identities: [{ identity: request.username, context: "ProxyAuthRfc1929" }],
              groups: [`${request.username}-team`],
            }
          : false,
      );
    },
    health() {
      healthCalls++;
      return healthy ? Promise.resolve() : Promise.reject(new Error("ldap down: password=hunter2 refused"));
    },
  };
  const instances: ProviderInstance[] = [{ instanceName: "corp", pluginName: "fixture", onError: "deny", provider }];
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let server: ProxyServer;
  let admin: AdminServer;
  let base: string;
  let healthNow = 0;

  before(async () => {
    echo = await startEcho();
    const activity = new AuthActivity();
    server = createProxyServer({
      listeners: [{ listen: "127.0.0.1:0", name: "main", require_auth: true }],
      auth: { provider, throttle: false },
      clock,
      hooks: combineHooks(activity.hooks, { onSessionEnd: (record) => ended.push(record) }),
    });
    await server.start();
    const view = new ProcessView(
      server,
      activity,
      new ProviderHealthCheck(() => healthNow),
      () => instances,
      () => true,
    );
    admin = createAdminServer({
      listen: "127.0.0.1:0",
      registry: new Registry(),
      operator: singleProcessOperator(view),
      token: TOKEN,
      logger,
    });
    await admin.start();
    base = `http://127.0.0.1:${String(admin.address().port)}`;
  });

  after(async () => {
    await admin.close();
    await server.close();
    echo.close();
  });

  const get = async (path: string, token: string | null = TOKEN): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${base}${path}`, {
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: await response.json() };
  };
  const listing = async (query = ""): Promise<SessionListing> =>
    (await get(`/api/sessions${query}`)).body as SessionListing;

  it("last_activity moves on the engine clock when bytes moved since the previous listing", async () => {
    const proxyPort = server.addresses()[0]!.port;
    const tunnel = await openTunnel(proxyPort, echo.port, "alice", PASSWORDS.alice);
    try {
      const first = (await listing()).sessions[0]!;
      assert.equal(first.identity, "alice");
      assert.deepEqual(first.groups, ["alice-team"]);
      assert.equal(first.provider, "corp");
      assert.equal(first.relay, "js");
      assert.deepEqual(first.destination, { name: null, address: `127.0.0.1:${String(echo.port)}`, port: echo.port });
      assert.equal(first.last_activity, first.started, "nothing relayed yet");

      assert.equal(await echoRoundTrip(tunnel, "ping"), "ping");
      clock.advance(3000);
      const moved = (await listing()).sessions[0]!;
      assert.deepEqual(moved.bytes, { up: 4, down: 4 });
      assert.equal(Date.parse(moved.last_activity) - Date.parse(moved.started), 3000);

      clock.advance(5000);
      // Times are shown on the wall clock (engine time + its offset from the wall clock, which a
      // simulated clock shifts): compare the span from the start.
      const quiet = (await listing()).sessions[0]!;
      assert.equal(Date.parse(quiet.last_activity) - Date.parse(quiet.started), 3000, "no bytes since: unchanged");
    } finally {
      tunnel.destroy();
      await closed(tunnel);
    }
  });

  it("closes by identity end the tunnels with session_end reason closed_by_admin", async () => {
    const proxyPort = server.addresses()[0]!.port;
    const tunnels = await Promise.all([
      openTunnel(proxyPort, echo.port, "alice", PASSWORDS.alice),
      openTunnel(proxyPort, echo.port, "bob", PASSWORDS.bob),
    ]);
    const before = ended.length;
    const response = await fetch(`${base}/api/sessions/close`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ identity: "bob" }),
    });
    assert.deepEqual(await response.json(), { closed: 1 });
    await closed(tunnels[1]);
    assert.equal(ended.length, before + 1);
    assert.equal(ended.at(-1)!.reason, "closed_by_admin");
    assert.equal(ended.at(-1)!.identity, "bob");
    assert.equal(await echoRoundTrip(tunnels[0], "still"), "still");
    const action = logger.lines.find((line) => line.event === "admin_action");
    assert.ok(action !== undefined, "logged");
    assert.equal(action.action, "close_sessions");
    assert.equal(action.identity, "bob");
    assert.equal(action.closed, 1);
    assert.equal(action.token, true);
    assert.match(String(action.peer), /^127\.0\.0\.1:\d+$/);
    tunnels[0].destroy();
    await closed(tunnels[0]);
  });

  it("the token guard: 401 with a challenge, refusals logged at most once per 10 s with the count", async () => {
    const before = logger.lines.filter((line) => line.event === "admin_refused").length;
    for (const token of [null, "wrong-token-000000000000", `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const answer = await get("/api/sessions", token);
      assert.equal(answer.status, 401, String(token));
    }
    const refusals = logger.lines.filter((line) => line.event === "admin_refused");
    assert.ok(refusals.length - before <= 1, "one line for the burst");
    assert.equal((await get("/api/sessions?limit=5")).status, 200);
  });

  it("/api/providers: health asked at most once per reuse interval, a failing one masked", async () => {
    const calls = healthCalls;
    await get("/api/providers");
    await get("/api/providers");
    assert.equal(healthCalls, calls + 1, "the second answer reused the first health check");
    healthy = false;
    healthNow += HEALTH_REUSE_MS;
    const { body } = await get("/api/providers");
    const [corp] = (body as { providers: Record<string, unknown>[] }).providers;
    assert.equal(corp!.health, "failing");
    assert.equal(corp!.message, "ldap down: password=[REDACTED] refused");
    assert.deepEqual(corp!.decisions, { allowed: 3, denied: 0, failed: 0 });
    healthy = true;
  });
});
