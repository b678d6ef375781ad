import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import type { ProxyServer } from "@gatehouse-proxy/core/engine";
import { createProxyMetrics } from "@gatehouse-proxy/observability";
import { SocksClient } from "socks";
import { memoryLogger } from "../helpers/proxy.js";
import { startEchoServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";

/** A login and a CONNECT with the `socks` client; resolves with the tunnel's echo of `text`. */
async function echoThrough(proxyPort: number, destinationPort: number, text: string): Promise<string> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: "127.0.0.1", port: proxyPort, type: 5, userId: "alice", password: "alice-pw" },
    command: "connect",
    destination: { host: "127.0.0.1", port: destinationPort },
    timeout: 5000,
  });
  try {
    socket.write(text);
    let received = "";
    for await (const chunk of socket) {
      received += (chunk as Buffer).toString("utf8");
      if (received.length >= text.length) break;
    }
    return received;
  } finally {
    socket.destroy();
  }
}

/** Refused by the policy: the CONNECT gets 02 and onPolicyDenied runs. */
async function deniedConnect(proxyPort: number): Promise<void> {
  await assert.rejects(
    SocksClient.createConnection({
      proxy: { host: "127.0.0.1", port: proxyPort, type: 5, userId: "alice", password: "alice-pw" },
      command: "connect",
      destination: { host: "127.0.0.1", port: 9 },
      timeout: 5000,
    }),
  );
}

describe("a hook that throws or rejects", () => {
  const logger = memoryLogger();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  let echo: TestServer;
  let server: ProxyServer;
  let port: number;
  let hookCalls = 0;

  before(async () => {
    process.on("unhandledRejection", onUnhandled);
    process.on("uncaughtException", onUnhandled);
    echo = await startEchoServer();
    server = createProxyServer({
      listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
      auth: {
        provider: { name: "inline", authenticate: (request) => Promise.resolve(request.password === "alice-pw") },
      },
      policy: { rules: [{ action: "deny", to: ["127.0.0.1:9"] }], default: "allow" },
      logger,
      hooks: {
        onAuthDecision() {
          hookCalls++;
          throw new Error("observer bug in onAuthDecision");
        },
        // Written as async by a careless observer: its rejection must not go unhandled.
        // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the mistake under test
        async onSessionEnd() {
          hookCalls++;
          await Promise.resolve();
          throw new Error("observer bug in onSessionEnd");
        },
        onPolicyDenied() {
          hookCalls++;
          throw new TypeError("observer bug in onPolicyDenied");
        },
      },
    });
    await server.start();
    port = server.addresses()[0]!.port;
  });
  after(async () => {
    process.off("unhandledRejection", onUnhandled);
    process.off("uncaughtException", onUnhandled);
    await server.close();
    await echo.close();
  });

  it("keeps sessions and the server running, logs once per hook and counts every failure", async () => {
    for (let i = 0; i < 5; i++)
      assert.equal(await echoThrough(port, echo.port, `round ${String(i)}`), `round ${String(i)}`);
    for (let i = 0; i < 3; i++) await deniedConnect(port);
    // Session ends are reported after the sockets close.
    const deadline = Date.now() + 5000;
    while (server.stats.hookErrors.onSessionEnd < 8 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(unhandled, [], "no unhandled rejection or uncaught exception");
    assert.deepEqual(server.stats.hookErrors, { onAuthDecision: 8, onPolicyDenied: 3, onSessionEnd: 8 });
    assert.equal(hookCalls, 19);

    const lines = logger.records.filter((record) => record.fields.event === "hook_error");
    assert.deepEqual(lines.map((line) => line.fields.hook).sort(), [
      "onAuthDecision",
      "onPolicyDenied",
      "onSessionEnd",
    ]);
    for (const line of lines) {
      assert.equal(line.level, "error");
      assert.equal(line.fields.failures, 1, "the first failure of each hook is logged at once");
      assert.match(String(line.fields.err), /observer bug/);
    }
    assert.ok(!JSON.stringify(logger.records).includes("alice-pw"), "no password in any log line");

    const metrics = createProxyMetrics();
    metrics.collectFrom(server.stats);
    const text = await metrics.registry.metrics();
    assert.match(text, /proxy_hook_errors_total\{hook="onAuthDecision"\} 8/);
    assert.match(text, /proxy_hook_errors_total\{hook="onPolicyDenied"\} 3/);
    assert.match(text, /proxy_hook_errors_total\{hook="onSessionEnd"\} 8/);

    assert.equal(await echoThrough(port, echo.port, "still alive"), "still alive");
  });
});
