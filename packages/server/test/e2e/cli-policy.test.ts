// The policy through the real gatehouse process: config validation, check-config, the
// `policy test` command, enforcement with the static provider's groups, the denial metric,
// SIGHUP changing a rule while a tunnel stays up, and the groups of the seed's Lua policy.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import type { TestDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import { runCli, startCli } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { adminGet, echoRoundTrip, metricValue, openTunnel, startEcho } from "../helpers/tunnel.js";

const PASSWORD = "policy-secret-77";

describe("policy through the gatehouse CLI", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let record: string;
  let dns: TestDnsServer;
  before(async () => {
    http = await startHttp();
    echo = await startEcho();
    dns = await startDnsServer({ records: { "smtp.example.com": { A: ["192.0.2.25"] } } });
    record = await hashPassword(PASSWORD, { ln: 10 });
  });
  after(async () => {
    http.server.close();
    echo.close();
    await dns.close();
    fixture.remove();
  });

  const authLines = (): string[] =>
    staticAuthLines(
      { record, groups: ["premium-tier"] },
      { bob: { record, groups: ["basic-tier"] }, mallory: { record, groups: ["premium-tier"] } },
    );
  /** `policy:` with the premium rule allowing `premiumTo`. */
  const config = (premiumTo: string, admin = true): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    name: main",
      "    require_auth: true",
      ...authLines(),
      "policy:",
      "  default: deny",
      "  rules:",
      "    - name: no-mallory",
      "      action: deny",
      "      identities: [mallory]",
      "    - name: premium",
      "      action: allow",
      "      groups: [premium-tier]",
      `      to: [${JSON.stringify(premiumTo)}, "*.example.com:443", "10.1.2.3:8000-8100"]`,
      ...(admin ? ["admin:", "  listen: 127.0.0.1:0"] : []),
      "dns:",
      `  servers: ["${dns.address}"]`,
      "shutdown_timeout: 1s",
    ].join("\n");

  it("check-config prints how many rules loaded; bad rules are reported by path (exit 2)", async () => {
    const good = fixture.write("good.yaml", config(`127.0.0.1:${String(echo.port)}`, false));
    const ok = await runCli(["check-config", good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /2 policy rule\(s\) loaded \(default deny\)/);

    const example = await runCli(["check-config", "examples/policy.yaml"]);
    assert.equal(example.code, 0, example.stderr);
    assert.match(example.stdout, /5 policy rule\(s\) loaded \(default deny\)/);

    const none = fixture.write("none.yaml", ["listeners:", "  - listen: 127.0.0.1:0"].join("\n"));
    assert.match((await runCli(["check-config", none])).stdout, /no policy \(every request allowed\)/);

    const bad = fixture.write(
      "bad.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    policy:",
        "      max_connections_per_ip: 2",
        "      rules:",
        "        - action: allow",
        "policy:",
        "  default: maybe",
        "  rules:",
        "    - action: allow",
        '      from: ["10.0.0.0/33"]',
        '      to: ["ok.example.com:25", "a*b.example.com", "[::1]:70000"]',
        "      command: tcp",
        "    - action: deny",
        "      groups: []",
      ].join("\n"),
    );
    const result = await runCli(["check-config", bad]);
    assert.equal(result.code, 2);
    for (const line of [
      /listeners\[0\]\.policy\.max_connections_per_ip: unknown key/,
      /listeners\[0\]\.policy\.rules\[0\]: empty match/,
      /policy\.default: expected allow or deny, got "maybe"/,
      /policy\.rules\[0\]\.from\[0\]: "10\.0\.0\.0\/33": prefix length must be 0\.\.32/,
      /policy\.rules\[0\]\.to\[1\]: "a\*b\.example\.com" is not a CIDR/,
      /policy\.rules\[0\]\.to\[2\]: "\[::1\]:70000": expected a port/,
      /policy\.rules\[0\]\.command:/,
      /policy\.rules\[1\]\.groups:/,
    ]) {
      assert.match(result.stderr, line);
    }
    assert.doesNotMatch(result.stderr, /policy\.rules\[0\]\.to\[0\]/);
  });

  it("policy test prints the decision and the rule (exit 0 allow, 1 deny) without traffic", async () => {
    const file = fixture.write("decide.yaml", config("0.0.0.0/0:25", false));
    const run = (...args: string[]) => runCli(["policy", "test", "--config", file, ...args]);

    const premium = await run("--user", "alice", "--group", "premium-tier", "--to", "192.0.2.10:25");
    assert.equal(premium.code, 0, premium.stderr);
    assert.match(premium.stdout, /decision: allow\nrule: premium \(policy\.rules\[1\]\)/);

    const wildcard = await run("--user", "alice", "--group", "premium-tier", "--to", "smtp.example.com:443");
    assert.equal(wildcard.code, 0);
    assert.match(wildcard.stdout, /rule: premium/);
    assert.match(wildcard.stdout, /connect smtp\.example\.com:443 \(address 192\.0\.2\.25\)/, "resolved by `dns:`");
    assert.equal(dns.queries("smtp.example.com", "A"), 1);

    const range = await run("--user", "x", "--group", "premium-tier", "--to", "10.1.2.3:8101");
    assert.equal(range.code, 1, "8101 is outside 8000-8100");
    assert.match(range.stdout, /decision: deny\nrule: default \(deny\): no rule matched/);

    const mallory = await run("--user", "mallory", "--group", "premium-tier", "--to", "192.0.2.10:25");
    assert.equal(mallory.code, 1);
    assert.match(mallory.stdout, /rule: no-mallory \(policy\.rules\[0\]\)/);

    // A host name is checked against CIDR rules by its address: --address stands in for DNS.
    const byAddress = await run(
      "--user",
      "bob",
      "--group",
      "premium-tier",
      "--to",
      "mx.internal.test:25",
      "--address",
      "192.0.2.99",
    );
    assert.equal(byAddress.code, 0);
    assert.match(byAddress.stdout, /connect mx\.internal\.test:25 \(address 192\.0\.2\.99\)/);

    const usage = await run("--user", "alice");
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--to HOST:PORT is required/);
    const unknownListener = await run("--to", "192.0.2.1:25", "--listener", "nope");
    assert.equal(unknownListener.code, 2);
    assert.match(unknownListener.stderr, /no listener "nope" \(listeners: main\)/);
  });

  it("enforces the rules on curl, counts denials by rule, and a SIGHUP changes a rule without dropping a tunnel", async () => {
    const file = fixture.write("live.yaml", config(`127.0.0.1:${String(echo.port)}`));
    const proxy = await startCli(["--config", file]);
    const port = proxy.ports[0]!;
    const started = await proxy.waitForEvent("started");
    assert.equal(started.policy_rules, 2);
    const url = `http://127.0.0.1:${String(http.port)}/p`;
    const tunnel = await openTunnel(port, echo.port, "alice", PASSWORD);
    try {
      assert.equal(await echoRoundTrip(tunnel, "premium tunnel"), "premium tunnel");
      assert.equal(
        (await curlThrough(port, url, `alice:${PASSWORD}`)).exitCode,
        97,
        "http port is not in premium's to:",
      );
      assert.equal((await curlThrough(port, url, `mallory:${PASSWORD}`)).exitCode, 97);
      assert.equal((await curlThrough(port, url, `bob:${PASSWORD}`)).exitCode, 97);

      const denied = await proxy.waitForEvents("policy_denied", 3);
      assert.deepEqual(
        denied.map((event) => [event.identity, event.rule]),
        [
          ["alice", "default"],
          ["mallory", "no-mallory"],
          ["bob", "default"],
        ],
      );
      const metrics = (await adminGet(proxy.adminPort!, "/metrics")).body;
      assert.equal(metricValue(metrics, "proxy_policy_denied_total", { listener: "main", rule: "default" }), 2);
      assert.equal(metricValue(metrics, "proxy_policy_denied_total", { listener: "main", rule: "no-mallory" }), 1);

      // Reload: premium may now reach the HTTP server instead of the echo server.
      fixture.write("live.yaml", config(`127.0.0.1:${String(http.port)}`));
      const from = proxy.stdout().length;
      process.kill(proxy.child.pid!, "SIGHUP");
      const reloaded = await proxy.waitForEvent("config_reloaded", from);
      assert.equal(reloaded.policy_rules, 2);
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD}`)).stdout, "hello /p");
      await assert.rejects(openTunnel(port, echo.port, "alice", PASSWORD), "a new tunnel to the echo port is denied");
      assert.equal(await echoRoundTrip(tunnel, "still up after reload"), "still up after reload");
    } finally {
      tunnel.destroy();
      assert.equal((await proxy.stop()).code, 0);
    }
    assert.doesNotMatch(proxy.stdout() + proxy.stderr(), new RegExp(PASSWORD));
  });
  it("the groups of the seed's Lua policy (use: lua) decide where proxyuser may connect", async () => {
    fixture.write("policy.lua", readFileSync(join(REPO_ROOT, "examples", "policy.lua"), "utf8"));
    const file = fixture.write(
      "lua-policy.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    name: main",
        "    require_auth: true",
        "auth:",
        "  provider: seed",
        "  providers:",
        "    seed:",
        "      use: lua",
        "      script: policy.lua",
        "policy:",
        "  default: deny",
        "  rules:",
        "    - name: basic-only-elsewhere",
        "      action: deny",
        "      groups: [basic-tier]",
        "    - name: premium-http",
        "      action: allow",
        "      groups: [premium-tier]",
        `      to: ["127.0.0.1:${String(http.port)}"]`,
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    const proxy = await startCli(["--config", file]);
    try {
      const port = proxy.ports[0]!;
      const allowed = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/lua`, "proxyuser:secretpassword");
      assert.equal(allowed.stdout, "hello /lua", "premium-tier (from the Lua AuthInfo) may reach the HTTP port");
      await assert.rejects(
        openTunnel(port, echo.port, "proxyuser", "secretpassword"),
        "no rule allows the echo port: the default denies",
      );
      await proxy.waitForEvent("policy_denied"); // the reply can reach the client before the line is written
      const denied = await proxy.waitForEvents("policy_denied", 1);
      assert.deepEqual(
        denied.map((event) => [event.identity, event.rule, event.destination]),
        [["proxyuser", "default", `127.0.0.1:${String(echo.port)}`]],
      );
    } finally {
      assert.equal((await proxy.stop()).code, 0);
    }
  });
});
