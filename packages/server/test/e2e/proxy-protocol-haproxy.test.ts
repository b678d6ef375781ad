// PROXY protocol through the real gatehouse process: a real HAProxy (Debian `haproxy`, mode tcp,
// send-proxy-v2, health checks with check-send-proxy) in front of TWO gatehouse processes, curl
// bound to 127.0.0.2 behind it; plus byte-level clients straight to the process (v1 header,
// untrusted source). HAProxy runs examples/deploy/haproxy.cfg itself, with the addresses in its
// environment.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { once } from "node:events";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { serializeProxyHeaderV1 } from "@gatehouse-proxy/core/engine";
import { startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curl, startHttp } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { HAPROXY_CONFIG, haproxyBinary, startHaproxyInFront } from "../helpers/haproxy.js";
import type { RunningHaproxy } from "../helpers/haproxy.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { adminGet, metricValue } from "../helpers/tunnel.js";

const PASSWORD = "behind-the-balancer-5";

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The session_end lines a gatehouse wrote so far. */
function sessionEnds(cli: RunningCli): Record<string, unknown>[] {
  return cli
    .stdout()
    .split("\n")
    .filter((line) => line.includes('"event":"session_end"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const metrics = async (gatehouse: RunningCli): Promise<string> =>
  (await adminGet(gatehouse.adminPort!, "/metrics")).body;

const healthChecks = (text: string): number =>
  metricValue(text, "proxy_proxy_header_health_checks_total", { listener: "behind-haproxy" });

describe("PROXY protocol behind a real HAProxy (two gatehouse processes)", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number } | undefined;
  const gatehouses: RunningCli[] = [];
  let haproxy: RunningHaproxy | undefined;
  let frontendPort = 0;

  before(async () => {
    haproxyBinary(); // fails the suite at once, with the package to install
    http = await startHttp();
    const record = await hashPassword(PASSWORD, CHEAP_SCRYPT);
    const config = fixture.write(
      "gatehouse.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    name: behind-haproxy",
        "    require_auth: true",
        "    proxy_protocol:",
        "      versions: [2]",
        "      trusted: [127.0.0.1/32]",
        "  - listen: 127.0.0.1:0",
        "    name: v1-only",
        "    proxy_protocol: { versions: [1], trusted: [127.0.0.1] }",
        ...staticAuthLines(record),
        "policy:",
        "  default: deny",
        "  rules:",
        "    - name: clients-on-127.0.0.2",
        "      action: allow",
        "      from: [127.0.0.2/32]",
        "admin:",
        "  listen: 127.0.0.1:0",
        "log:",
        "  handshake_failures_interval: 1s",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    for (let i = 0; i < 2; i++) gatehouses.push(await startCli(["--config", config]));
    ({ haproxy, frontendPort } = await startHaproxyInFront(gatehouses, "behind-haproxy"));
  });
  after(async () => {
    await haproxy?.stop();
    await Promise.all(gatehouses.map((gatehouse) => gatehouse.stop()));
    http?.server.close();
    fixture.remove();
  });

  it("docs/deploy.md shows the very HAProxy config this test runs", () => {
    const docs = readFileSync(join(REPO_ROOT, "docs", "deploy.md"), "utf8");
    assert.ok(docs.includes(readFileSync(HAPROXY_CONFIG, "utf8")), "examples/deploy/haproxy.cfg, verbatim");
  });

  it("HAProxy's health checks (PROXY v2 LOCAL) reach both instances, are counted, and are not failures", async () => {
    for (const gatehouse of gatehouses) {
      await until(
        async () => healthChecks(await metrics(gatehouse)) >= 4,
        "four health checks counted (2 s at one per 500 ms: the 1 s failure summary would have been written)",
      );
      const text = await metrics(gatehouse);
      assert.equal(metricValue(text, "proxy_proxy_header_refused_total"), 0, "no check was refused");
      assert.ok(
        !gatehouse.stdout().includes('"event":"handshake_failures"'),
        `checks are not failed handshakes: ${gatehouse.stdout()}`,
      );
      assert.ok(!gatehouse.stdout().includes('"event":"session_end"'), "nor logged at info");
    }
  });

  it("curl on 127.0.0.2 through HAProxy reaches the HTTP server; the gatehouse log shows curl's own address and port, and the from: 127.0.0.2 rule allowed it", async () => {
    const url = `http://127.0.0.1:${String(http!.port)}/through-haproxy`;
    const seen: string[] = [];
    // leastconn with no open tunnels spreads new clients over both instances: enough tries reach both.
    for (let attempt = 0; attempt < 8; attempt++) {
      const result = await curl([
        "--socks5-hostname",
        `127.0.0.1:${String(frontendPort)}`,
        "--proxy-user",
        `alice:${PASSWORD}`,
        "--interface",
        "127.0.0.2",
        "--write-out",
        "\n%{local_ip}:%{local_port}",
        url,
      ]);
      assert.equal(result.exitCode, 0, `curl exit ${String(result.exitCode)}; haproxy: ${haproxy!.output()}`);
      const [body, curlAddress] = result.stdout.split("\n");
      assert.equal(body, "hello /through-haproxy");
      assert.match(curlAddress!, /^127\.0\.0\.2:\d+$/);
      seen.push(curlAddress!);
    }
    await until(
      () => gatehouses.reduce((sum, gatehouse) => sum + sessionEnds(gatehouse).length, 0) >= seen.length,
      "every curl's session_end line",
    );
    const all = gatehouses.flatMap(sessionEnds);
    for (const address of seen) {
      const line = all.find((entry) => entry.peer === address);
      assert.ok(line !== undefined, `a session_end with peer ${address}: ${JSON.stringify(all)}`);
      assert.equal(line.identity, "alice");
      assert.equal(line.reason, "completed");
    }
    assert.ok(
      gatehouses.every((gatehouse) => sessionEnds(gatehouse).length > 0),
      "both instances served clients",
    );
    for (const gatehouse of gatehouses) {
      const auth = gatehouse
        .stdout()
        .split("\n")
        .filter((line) => line.includes('"event":"auth"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const line of auth) assert.match(String(line.peer_address), /^127\.0\.0\.2:\d+$/, "auth peer_address");
    }
  });

  it("the same curl on 127.0.0.1 (the balancer's own address) is denied by the policy: the rule sees the header's client", async () => {
    const before = gatehouses.map((gatehouse) => gatehouse.stdout().length);
    const result = await curl([
      "--socks5-hostname",
      `127.0.0.1:${String(frontendPort)}`,
      "--proxy-user",
      `alice:${PASSWORD}`,
      "--interface",
      "127.0.0.1",
      `http://127.0.0.1:${String(http!.port)}/`,
    ]);
    assert.equal(result.exitCode, 97, "SOCKS request refused");
    await until(
      () => gatehouses.some((gatehouse, i) => gatehouse.stdout().slice(before[i]).includes('"event":"policy_denied"')),
      "a policy_denied line",
    );
    const denied = gatehouses
      .flatMap((gatehouse, i) => gatehouse.stdout().slice(before[i]).split("\n"))
      .filter((line) => line.includes('"event":"policy_denied"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(denied.length, 1);
    assert.match(String(denied[0]!.peer_address), /^127\.0\.0\.1:\d+$/);
    assert.equal(denied[0]!.rule, "default");
  });

  it("straight to the process: a v1 header from a byte-level client, and a source outside `trusted`", async () => {
    const gatehouse = gatehouses[0]!;
    const port = gatehouse.ports[1]!;
    // v1 header + greeting + CONNECT in one write; the policy allows 127.0.0.2 only.
    const socket = connect({ port, host: "127.0.0.1" });
    await once(socket, "connect");
    const header = serializeProxyHeaderV1({ address: "127.0.0.2", port: 45678 }, { address: "127.0.0.1", port });
    const target = Buffer.alloc(2);
    target.writeUInt16BE(http!.port);
    socket.write(Buffer.concat([header, Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1]), target]));
    socket.write("GET /v1 HTTP/1.0\r\n\r\n");
    const response = await readAll(socket);
    assert.deepEqual([...response.subarray(0, 3)], [5, 0, 5], "method selection, then a reply");
    assert.equal(response[3], 0, "CONNECT succeeded");
    assert.match(response.toString("latin1"), /hello \/v1$/);
    // (Another session, from the previous test, may end meanwhile: find this one by its peer.)
    await until(
      () => sessionEnds(gatehouse).some((line) => line.peer === "127.0.0.2:45678" && line.reason === "completed"),
      "the session_end line with the header's client as peer",
    );

    // From 127.0.0.3 (not trusted): closed before a single byte, counted by reason.
    const untrusted = connect({ port, host: "127.0.0.1", localAddress: "127.0.0.3" });
    untrusted.on("error", () => undefined);
    await once(untrusted, "connect");
    untrusted.write(header);
    assert.equal((await readAll(untrusted)).length, 0);
    await until(
      async () =>
        metricValue(await metrics(gatehouse), "proxy_proxy_header_refused_total", {
          listener: "v1-only",
          reason: "untrusted_source",
        }) === 1,
      "the refusal counted",
    );
  });
});

function readAll(socket: Socket, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("the connection stayed open"));
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}
