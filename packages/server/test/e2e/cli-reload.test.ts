import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { portOf, startCli } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { echoRoundTrip, openTunnel, startEcho } from "../helpers/tunnel.js";

const PASSWORD_A = "first-password-A1";
const PASSWORD_B = "second-password-B2";

describe("SIGHUP reloads the config", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let recordA: string;
  let recordB: string;
  before(async () => {
    http = await startHttp();
    echo = await startEcho();
    [recordA, recordB] = await Promise.all([hashPassword(PASSWORD_A), hashPassword(PASSWORD_B)]);
  });
  after(() => {
    http.server.close();
    echo.close();
    fixture.remove();
  });

  const config = (record: string, extraListener: boolean): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      ...(extraListener ? ["  - listen: 127.0.0.1:0", "    name: extra", "    require_auth: true"] : []),
      ...staticAuthLines(record),
      "shutdown_timeout: 2s",
    ].join("\n");

  it("keeps an open tunnel, applies the new password and listener, and rejects a broken config", async () => {
    const file = fixture.write("reload.yaml", config(recordA, false));
    const proxy = await startCli(["--config", file]);
    const pid = proxy.child.pid!;
    const port = proxy.ports[0]!;
    const url = `http://127.0.0.1:${String(http.port)}/r`;
    const tunnel = await openTunnel(port, echo.port, "alice", PASSWORD_A);
    try {
      assert.equal(await echoRoundTrip(tunnel, "before reload"), "before reload");

      // Password B and an extra listener.
      fixture.write("reload.yaml", config(recordB, true));
      let from = proxy.stdout().length;
      process.kill(pid, "SIGHUP");
      const reloaded = await proxy.waitForEvent("config_reloaded", from);
      assert.equal(reloaded.listener_count, 2);
      assert.equal(reloaded.provider_count, 1);
      const listeners = reloaded.listeners as string[];
      assert.equal(listeners.length, 2);
      assert.equal(portOf(listeners[0]!), port, "the unchanged listener stays on its port");
      const extraPort = portOf(listeners[1]!);

      assert.equal(await echoRoundTrip(tunnel, "after reload"), "after reload");
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD_A}`)).exitCode, 97);
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD_B}`)).stdout, "hello /r");
      assert.equal((await curlThrough(extraPort, url, `alice:${PASSWORD_B}`)).stdout, "hello /r");

      // A broken config is logged with its paths; the running one stays.
      fixture.write("reload.yaml", ["listeners:", "  - listen: nowhere", "surprise: 1"].join("\n"));
      from = proxy.stdout().length;
      process.kill(pid, "SIGHUP");
      const failed = await proxy.waitForEvent("reload_failed", from);
      assert.ok(
        ["GH_CONFIG_INVALID_VALUE", "GH_CONFIG_UNKNOWN_KEY"].includes(String(failed.code)),
        String(failed.code),
      );
      const problems = (failed.problems as string[]).join("\n");
      assert.match(problems, /listeners\[0\]\.listen: expected host:port/);
      assert.match(problems, /surprise/);
      assert.equal(await echoRoundTrip(tunnel, "after a bad reload"), "after a bad reload");
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD_B}`)).stdout, "hello /r");
      assert.equal((await curlThrough(extraPort, url, `alice:${PASSWORD_B}`)).stdout, "hello /r");
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD_A}`)).exitCode, 97);

      // A config the plugin rejects (plaintext password) is refused too.
      fixture.write(
        "reload.yaml",
        config(recordA, false).replace(`password: "${recordA}"`, `password: "${PASSWORD_A}"`),
      );
      from = proxy.stdout().length;
      process.kill(pid, "SIGHUP");
      const refused = await proxy.waitForEvent("reload_failed", from);
      assert.match((refused.problems as string[]).join("\n"), /auth\.providers\.local\.users\.alice\.password/);
      assert.equal(refused.code, "GH_CONFIG_INVALID_VALUE");
      assert.equal((await curlThrough(extraPort, url, `alice:${PASSWORD_B}`)).stdout, "hello /r");

      // Removing the extra listener while a tunnel runs through it: the tunnel runs on, and the
      // listener is pruned once that tunnel ends.
      const extraTunnel = await openTunnel(extraPort, echo.port, "alice", PASSWORD_B);
      try {
        fixture.write("reload.yaml", config(recordB, false));
        from = proxy.stdout().length;
        process.kill(pid, "SIGHUP");
        const shrunk = await proxy.waitForEvent("config_reloaded", from);
        assert.equal(shrunk.listener_count, 1);
        assert.equal(await echoRoundTrip(extraTunnel, "on a removed listener"), "on a removed listener");
        assert.doesNotMatch(proxy.stdout().slice(from), /"listener_retired"/, "not pruned while its tunnel runs");
      } finally {
        extraTunnel.destroy();
      }
      const pruned = await proxy.waitForEvent("listener_retired", from);
      assert.equal(pruned.listener, "extra");
      assert.equal(pruned.retired_listeners, 0);
    } finally {
      tunnel.destroy();
      assert.equal((await proxy.stop()).code, 0);
    }
    assert.doesNotMatch(proxy.stdout() + proxy.stderr(), new RegExp(`${PASSWORD_A}|${PASSWORD_B}`));
  });
});
