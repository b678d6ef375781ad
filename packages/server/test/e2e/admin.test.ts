import assert from "node:assert/strict";
import type { Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { runCli, startCli } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { adminGet, metricValue } from "../helpers/tunnel.js";

const PASSWORD = "metrics-secret-42";

/** A provider whose health() always fails. */
const SICK_PLUGIN = `
import { Tokens, definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({
  name: "fixture-sick",
  gatehouse: "*",
  configSchema: z.strictObject({}),
  register(container, config, context) {
    container.register(Tokens.AuthProvider, {
      useValue: {
        name: context.instanceName,
        async authenticate() {
          return false;
        },
        async health() {
          throw new Error("backend unreachable");
        },
      },
    });
  },
});
`;

/** A provider over a users file whose health() checks the file and its backend URL, as an htpasswd plugin would. */
const USERS_FILE_PLUGIN = `
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Tokens, definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({
  name: "fixture-users-file",
  gatehouse: "*",
  configSchema: z.strictObject({ users_file: z.string(), backend: z.string().optional() }),
  register(container, config, context) {
    const file = resolve(context.configDir, config.users_file);
    container.register(Tokens.AuthProvider, {
      useValue: {
        name: context.instanceName,
        async authenticate() {
          return false;
        },
        async health() {
          try {
            await stat(file);
          } catch (error) {
            throw new Error(file + ": " + error.code);
          }
          if (config.backend !== undefined) throw new Error("cannot reach " + config.backend);
        },
      },
    });
  },
});
`;

describe("admin listener: /metrics, /healthz, /readyz", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  let record: string;
  before(async () => {
    http = await startHttp();
    record = await hashPassword(PASSWORD, CHEAP_SCRYPT);
  });
  after(() => {
    http.server.close();
    fixture.remove();
  });

  const config = (admin: string[]): string =>
    ["listeners:", "  - listen: 127.0.0.1:0", "    require_auth: true", ...staticAuthLines(record), ...admin].join(
      "\n",
    );

  it("counts what went through the proxy and answers the probes", async () => {
    const file = fixture.write("admin.yaml", config(["admin:", "  listen: 127.0.0.1:0"]));
    const proxy = await startCli(["--config", file]);
    try {
      assert.ok(proxy.adminPort !== undefined, "the started line names the admin address");
      assert.equal((await proxy.waitForEvent("admin_started")).admin, `127.0.0.1:${String(proxy.adminPort)}`);
      const port = proxy.ports[0]!;
      const url = `http://127.0.0.1:${String(http.port)}/m`;
      for (let i = 0; i < 3; i++) assert.equal((await curlThrough(port, url, `alice:${PASSWORD}`)).exitCode, 0);
      for (let i = 0; i < 2; i++) assert.equal((await curlThrough(port, url, "alice:not-the-password")).exitCode, 97);

      const metrics = await adminGet(proxy.adminPort, "/metrics");
      assert.equal(metrics.status, 200);
      assert.equal(metricValue(metrics.body, "proxy_connections_accepted_total"), 5);
      assert.equal(metricValue(metrics.body, "proxy_auth_total", { provider: "local", outcome: "allow" }), 3);
      assert.equal(metricValue(metrics.body, "proxy_auth_total", { provider: "local", outcome: "deny" }), 2);
      assert.equal(metricValue(metrics.body, "proxy_connections_completed_total"), 3);
      assert.match(
        metrics.body,
        /^proxy_hook_errors_total\{hook="onSessionEnd"\} 0$/m,
        "the metrics hooks never failed",
      );
      assert.doesNotMatch(metrics.body, new RegExp(PASSWORD));
      assert.doesNotMatch(metrics.body, /not-the-password|alice/);

      assert.deepEqual(await adminGet(proxy.adminPort, "/healthz"), { status: 200, body: "ok\n" });
      assert.deepEqual(await adminGet(proxy.adminPort, "/readyz"), { status: 200, body: "ok\n" });
    } finally {
      assert.equal((await proxy.stop()).code, 0);
    }
    assert.doesNotMatch(proxy.stdout(), new RegExp(PASSWORD));
  });

  it("/readyz is 503 naming the provider whose health() fails", async () => {
    fixture.write("sick.js", SICK_PLUGIN);
    const file = fixture.write(
      "sick.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "auth:",
        "  chain: [local, sick]",
        "  providers:",
        "    local:",
        "      use: static",
        "      users:",
        `        alice: { password: "${record}" }`,
        "    sick:",
        "      use: ./sick.js",
        "admin:",
        "  listen: 127.0.0.1:0",
      ].join("\n"),
    );
    const proxy = await startCli(["--config", file]);
    try {
      const ready = await adminGet(proxy.adminPort!, "/readyz");
      assert.equal(ready.status, 503);
      assert.match(ready.body, /provider sick: backend unreachable/);
      assert.equal((await adminGet(proxy.adminPort!, "/healthz")).status, 200);
    } finally {
      assert.equal((await proxy.stop()).code, 0);
    }
  });

  it("/readyz shows a missing users_file's path, named like a secret or not, and masks URL credentials", async () => {
    fixture.write("users-file.js", USERS_FILE_PLUGIN);
    fixture.write("users.htpasswd", "alice:x\n");
    const configFor = (...options: string[]): string =>
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "auth:",
        "  chain: [htpasswd]",
        "  providers:",
        "    htpasswd:",
        "      use: ./users-file.js",
        ...options.map((option) => `      ${option}`),
        "admin:",
        "  listen: 127.0.0.1:0",
      ].join("\n");
    const missing = await startCli(["--config", fixture.write("missing.yaml", configFor("users_file: gone.htpasswd"))]);
    try {
      const ready = await adminGet(missing.adminPort!, "/readyz");
      assert.equal(ready.status, 503);
      assert.equal(ready.body, `not ready: provider htpasswd: ${join(fixture.dir, "gone.htpasswd")}: ENOENT\n`);
    } finally {
      assert.equal((await missing.stop()).code, 0);
    }
    const withUrl = configFor("users_file: users.htpasswd", "backend: ldaps://cn=admin:hunter2@127.0.0.1:1");
    const unreachable = await startCli(["--config", fixture.write("url.yaml", withUrl)]);
    try {
      const ready = await adminGet(unreachable.adminPort!, "/readyz");
      assert.equal(ready.status, 503);
      assert.equal(ready.body, "not ready: provider htpasswd: cannot reach ldaps://[REDACTED]@127.0.0.1:1\n");
    } finally {
      assert.equal((await unreachable.stop()).code, 0);
    }
  });

  it("is off without an admin section", async () => {
    const proxy = await startCli(["--config", fixture.write("no-admin.yaml", config([]))]);
    try {
      assert.equal(proxy.adminPort, undefined);
      assert.doesNotMatch(proxy.stdout(), /admin_started/);
    } finally {
      assert.equal((await proxy.stop()).code, 0);
    }
  });

  it("rejects unknown admin keys and bad addresses with their paths (exit 2)", async () => {
    const file = fixture.write(
      "bad-admin.yaml",
      config(["admin:", "  listen: nowhere", "  port: 9090", "shutdown_timeout: soon"]),
    );
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /admin\.listen: expected host:port/);
    assert.match(result.stderr, /admin.*port/);
    assert.match(result.stderr, /shutdown_timeout: /);
  });
});
