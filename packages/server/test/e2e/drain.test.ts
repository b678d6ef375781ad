import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { startCli } from "../helpers/cli.js";
import { makeFixtureDir } from "../helpers/fixtures.js";
import { echoRoundTrip, openTunnel, startEcho, tryConnect } from "../helpers/tunnel.js";

describe("SIGTERM drains open tunnels", () => {
  const fixture = makeFixtureDir();
  let echo: Awaited<ReturnType<typeof startEcho>>;
  before(async () => {
    echo = await startEcho();
  });
  after(() => {
    echo.close();
    fixture.remove();
  });

  const config = (shutdownTimeout?: string): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      ...(shutdownTimeout === undefined ? [] : [`shutdown_timeout: ${shutdownTimeout}`]),
    ].join("\n");

  it("stops accepting at once, keeps the tunnel, and exits 0 as soon as it closes", async () => {
    const proxy = await startCli(["--config", fixture.write("drain.yaml", config())]); // default 10s
    const port = proxy.ports[0]!;
    const tunnel = await openTunnel(port, echo.port);
    assert.equal(await echoRoundTrip(tunnel, "hello"), "hello");

    const from = proxy.stdout().length;
    const exited = proxy.stop("SIGTERM");
    const shutdown = await proxy.waitForEvent("shutdown", from);
    assert.equal(shutdown.drain_ms, 10000);
    assert.equal(await tryConnect(port), "ECONNREFUSED");
    assert.equal(await echoRoundTrip(tunnel, "still open"), "still open");
    assert.equal(proxy.child.exitCode, null, "still draining");

    const closedAt = Date.now();
    tunnel.end();
    const exit = await exited;
    assert.equal(exit.code, 0);
    assert.ok(Date.now() - closedAt < 3000, `exited ${String(Date.now() - closedAt)} ms after the tunnel closed`);
    assert.match(proxy.stdout(), /"event":"stopped"/);
  });

  it("ends the tunnels left open at shutdown_timeout and exits 0", async () => {
    const proxy = await startCli(["--config", fixture.write("deadline.yaml", config("1s"))]);
    const tunnel = await openTunnel(proxy.ports[0]!, echo.port);
    assert.equal(await echoRoundTrip(tunnel, "hello"), "hello");
    tunnel.on("error", () => undefined);
    const closed = once(tunnel, "close");

    const signalledAt = Date.now();
    const exit = await proxy.stop("SIGTERM");
    const elapsed = Date.now() - signalledAt;
    assert.equal(exit.code, 0);
    assert.ok(elapsed >= 900 && elapsed < 5000, `exited after ${String(elapsed)} ms`);
    await closed; // the proxy ended it
  });
});
