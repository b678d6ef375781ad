import assert from "node:assert/strict";
import type { Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import type { AuthProvider } from "@gatehouse-proxy/core";
import type { ProxyServer, SessionRecord } from "@gatehouse-proxy/core/engine";
import { combineHooks, createAdminServer, createProxyMetrics } from "@gatehouse-proxy/observability";
import type { AdminServer } from "@gatehouse-proxy/observability";
import { failedAuth, parseMetrics, startEchoServer, tunnelEcho, valueOf, waitFor } from "../helpers.js";

const USER = "alice";
const PASSWORD = "s3cret-Pa55word";
const BROKEN_USER = "bob";
const BROKEN_PASSWORD = "bobs-Pa55word-xyz";

/** Allows alice; bob's backend lookup fails with an error that quotes his password. */
const provider: AuthProvider = {
  name: "corp",
  authenticate(request) {
    if (request.username === BROKEN_USER) {
      return Promise.reject(new Error(`bind failed for ${request.username} with password ${request.password}`));
    }
    return Promise.resolve(request.username === USER && request.password === PASSWORD);
  },
};

describe("metrics from a real proxy", () => {
  const TUNNELS = 3;
  const BAD_PASSWORDS = 2;
  const metrics = createProxyMetrics();
  const ended: SessionRecord[] = [];
  let echo: Server;
  let echoPort: number;
  let proxy: ProxyServer;
  let admin: AdminServer;
  let base: string;

  before(async () => {
    ({ server: echo, port: echoPort } = await startEchoServer());
    proxy = createProxyServer({
      listeners: [{ listen: "127.0.0.1:0", name: "socks-main", require_auth: true }],
      auth: { provider, cache: false, throttle: false },
      hooks: combineHooks(metrics.hooks, { onSessionEnd: (record) => ended.push(record) }),
    });
    await proxy.start();
    metrics.collectFrom(proxy.stats, { listener: "socks-main" }); // one listener: its name is honest
    admin = createAdminServer({ listen: "127.0.0.1:0", registry: metrics.registry });
    await admin.start();
    base = `http://127.0.0.1:${admin.address().port}`;
  });

  after(async () => {
    await admin.close();
    await proxy.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  it("/metrics counts exactly what went through the proxy", async () => {
    const port = proxy.addresses()[0]!.port;
    let sent = 0;
    for (let index = 0; index < TUNNELS; index++) {
      const payload = Buffer.alloc(1000 * (index + 1), index);
      const echoed = await tunnelEcho(port, echoPort, { username: USER, password: PASSWORD }, payload);
      assert.deepEqual(echoed, payload);
      sent += payload.length;
    }
    for (let index = 0; index < BAD_PASSWORDS; index++) {
      assert.equal(await failedAuth(port, USER, `wrong-${PASSWORD}`), 0x01);
    }
    assert.equal(await failedAuth(port, BROKEN_USER, BROKEN_PASSWORD), 0x01);
    const sessions = TUNNELS + BAD_PASSWORDS + 1;
    await waitFor(() => ended.length === sessions && proxy.stats.activeConnections === 0);

    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    const text = await response.text();
    const samples = parseMetrics(text);
    const listener = { listener: "socks-main" };
    assert.equal(valueOf(samples, "proxy_connections_accepted_total", listener), sessions);
    assert.equal(valueOf(samples, "proxy_active_connections", listener), 0);
    assert.equal(valueOf(samples, "proxy_connections_completed_total", listener), TUNNELS);
    assert.equal(valueOf(samples, "proxy_connections_failed_total", listener), BAD_PASSWORDS + 1);
    assert.equal(valueOf(samples, "proxy_outbound_connections_total", listener), TUNNELS);
    assert.equal(valueOf(samples, "proxy_bytes_client_to_dest_total", listener), sent);
    assert.equal(valueOf(samples, "proxy_bytes_dest_to_client_total", listener), sent);

    const auth = (outcome: string, reason: string): number | undefined =>
      valueOf(samples, "proxy_auth_total", { provider: "corp", outcome, reason });
    assert.equal(auth("allow", "ok"), TUNNELS);
    assert.equal(auth("deny", "bad_credentials"), BAD_PASSWORDS);
    assert.equal(auth("error", "backend_error"), 1);
    const attempts = (outcome: string): number | undefined =>
      valueOf(samples, "proxy_auth_duration_seconds_count", { provider: "corp", outcome });
    assert.equal(attempts("allow"), TUNNELS);
    assert.equal(attempts("deny"), BAD_PASSWORDS);
    assert.equal(attempts("error"), 1);
    assert.equal(
      valueOf(samples, "proxy_auth_duration_seconds_bucket", { provider: "corp", outcome: "allow", le: "+Inf" }),
      TUNNELS,
    );

    // No credential, username or peer address anywhere in the exposition.
    for (const secret of [PASSWORD, BROKEN_PASSWORD, USER, BROKEN_USER, "127.0.0.1"]) {
      assert.ok(!text.includes(secret), `metrics text contains ${secret}`);
    }
  });
});

describe("metrics for sessions that fail after auth", () => {
  it("a refused dial is an outbound attempt and a failed connection, not a completed one", async () => {
    const metrics = createProxyMetrics();
    const { server: closedEcho, port: deadPort } = await startEchoServer();
    await new Promise((resolve) => closedEcho.close(resolve)); // nothing listens on deadPort now
    const ended: SessionRecord[] = [];
    const proxy = createProxyServer({
      listeners: [{ listen: "127.0.0.1:0", name: "edge", require_auth: true }],
      auth: { provider, cache: false, throttle: false },
      hooks: combineHooks(metrics.hooks, { onSessionEnd: (record) => ended.push(record) }),
    });
    await proxy.start();
    try {
      await assert.rejects(
        tunnelEcho(proxy.addresses()[0]!.port, deadPort, { username: USER, password: PASSWORD }, Buffer.from("x")),
        /CONNECT failed/,
      );
      await waitFor(() => ended.length === 1);
      const samples = parseMetrics(await metrics.registry.metrics());
      const listener = { listener: "edge" };
      assert.equal(valueOf(samples, "proxy_connections_failed_total", listener), 1);
      assert.equal(valueOf(samples, "proxy_connections_completed_total", listener), undefined);
      assert.equal(valueOf(samples, "proxy_outbound_connections_total", listener), 1);
      assert.equal(valueOf(samples, "proxy_bytes_client_to_dest_total", listener), 0);
      assert.equal(valueOf(samples, "proxy_auth_total", { provider: "corp", outcome: "allow", reason: "ok" }), 1);
    } finally {
      await proxy.close();
    }
  });
});
