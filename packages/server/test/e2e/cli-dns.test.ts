// The `dns` config key through the real gatehouse process, against a DNS server the test runs on
// loopback: names only that server knows, NXDOMAIN → 04, a server that never answers (04 within
// timeout × tries while other clients are served), the per-identity in-flight cap (01), the cache
// seen in the server's query counts, a relative hosts_file, check-config, and SIGHUP.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { SocksClient } from "socks";
import { startDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import type { TestDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import { runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";

const PASSWORD = "dns-secret-31";

/** The `socks` client's CONNECT as `user` to host:port: "ok" or the reply it was refused with, and how long it took. */
async function connectAs(
  proxyPort: number,
  user: string,
  host: string,
  port: number,
): Promise<{ outcome: string; ms: number }> {
  const started = performance.now();
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: "127.0.0.1", port: proxyPort, type: 5, userId: user, password: PASSWORD },
      command: "connect",
      destination: { host, port },
      timeout: 10_000,
    });
    socket.destroy();
    return { outcome: "ok", ms: performance.now() - started };
  } catch (error) {
    const match = /rejected connection - (\w+)/.exec((error as Error).message);
    return { outcome: match?.[1] ?? (error as Error).message, ms: performance.now() - started };
  }
}

/** The `session_end` records for `destination` logged after offset `from`, once there is one (5 s at most). */
async function sessionEnds(proxy: RunningCli, from: number, destination: string): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const ends = proxy
      .stdout()
      .slice(from)
      .split("\n")
      .filter((line) => line.includes('"event":"session_end"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((end) => end.destination === destination);
    if (ends.length > 0 || Date.now() > deadline) return ends;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("dns: through the gatehouse process", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  let dns: TestDnsServer;
  let record: string;
  let proxy: RunningCli;
  let port: number;

  const config = (servers: string, extra: string[] = []): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      ...staticAuthLines(record, { bob: record }),
      "dns:",
      `  servers: [${servers}]`,
      "  timeout: 400ms",
      "  tries: 2",
      "  cache_ttl: 1500ms",
      "  max_in_flight_per_identity: 2",
      "  hosts_file: hosts.txt",
      ...extra,
      "shutdown_timeout: 1s",
    ].join("\n");

  before(async () => {
    http = await startHttp();
    record = await hashPassword(PASSWORD, { ln: 10 });
    dns = await startDnsServer({
      records: {
        "web.test": { A: ["127.0.0.1"], ttl: 300 },
        "other.test": { A: ["127.0.0.1"] },
        "bob.test": { A: ["127.0.0.1"] },
      },
      silent: ["silent-1.test", "silent-2.test", "silent-3.test", "silent-4.test"],
    });
    fixture.write("hosts.txt", "127.0.0.1 localhost\n127.0.0.1 internal.test\n");
    const file = fixture.write("dns.yaml", config(`"${dns.address}"`));
    proxy = await startCli(["--config", file]);
    port = proxy.ports[0]!;
  });
  after(async () => {
    await proxy.stop();
    http.server.close();
    await dns.close();
    fixture.remove();
  });

  it("curl --socks5-hostname reaches a name only the test's DNS server knows", async () => {
    const result = await curlThrough(port, `http://web.test:${String(http.port)}/via-dns`, `alice:${PASSWORD}`);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, "hello /via-dns");
    assert.equal(dns.queries("web.test", "A"), 1);
    assert.equal(dns.queries("web.test", "AAAA"), 0, "an A answer ends the lookup");
  });

  it("hosts_file (relative to the config) is answered without asking the server", async () => {
    const result = await curlThrough(port, `http://internal.test:${String(http.port)}/hosts`, `alice:${PASSWORD}`);
    assert.equal(result.stdout, "hello /hosts");
    assert.equal(dns.queries("internal.test"), 0);
  });

  it("NXDOMAIN → reply 04 (curl exits 97), logged as dns_failed:ENOTFOUND", async () => {
    const from = proxy.stdout().length;
    assert.deepEqual((await connectAs(port, "alice", "nowhere.test", 80)).outcome, "HostUnreachable");
    assert.equal(
      (await curlThrough(port, `http://nowhere.test:${String(http.port)}/`, `alice:${PASSWORD}`)).exitCode,
      97,
    );
    const ends = await sessionEnds(proxy, from, "nowhere.test:80");
    assert.deepEqual(
      ends.map((end) => end.reason),
      ["dns_failed:ENOTFOUND"],
    );
  });

  it("a server that never answers: 04 within timeout × tries, while another user is served at once", async () => {
    const stuck = connectAs(port, "alice", "silent-1.test", 80);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const bob = await connectAs(port, "bob", "bob.test", http.port);
    assert.equal(bob.outcome, "ok");
    assert.ok(bob.ms < 400, `bob waited ${bob.ms.toFixed(0)} ms next to a stuck lookup`);
    const { outcome, ms } = await stuck;
    assert.equal(outcome, "HostUnreachable");
    assert.ok(ms >= 750 && ms < 1800, `the silent name was refused after ${ms.toFixed(0)} ms; 400ms × 2 tries`);
  });

  it("max_in_flight_per_identity: alice's third concurrent lookup gets 01 at once; bob is unaffected", async () => {
    const from = proxy.stdout().length;
    const waiting = [connectAs(port, "alice", "silent-2.test", 80), connectAs(port, "alice", "silent-3.test", 80)];
    await new Promise((resolve) => setTimeout(resolve, 150));
    const asked = dns.log.length;
    const third = await connectAs(port, "alice", "silent-4.test", 80);
    assert.equal(third.outcome, "Failure", "reply 01, general failure");
    assert.ok(third.ms < 300, `refused after ${third.ms.toFixed(0)} ms`);
    assert.equal(dns.queries("silent-4.test"), 0, "the refused lookup was never sent");
    const bob = await connectAs(port, "bob", "other.test", http.port);
    assert.equal(bob.outcome, "ok");
    assert.ok(dns.log.length > asked);
    for (const result of await Promise.all(waiting)) assert.equal(result.outcome, "HostUnreachable");
    assert.equal((await connectAs(port, "alice", "other.test", http.port)).outcome, "ok", "alice's slots came back");
    const refused = await sessionEnds(proxy, from, "silent-4.test:80");
    assert.deepEqual(
      refused.map((end) => [end.identity, end.reason]),
      [["alice", "dns_failed:ELOOKUPLIMIT"]],
    );
  });

  it("the cache: a repeat within cache_ttl asks nothing; after it, the server is asked again", async () => {
    const url = `http://web.test:${String(http.port)}/cached`;
    const asked = dns.queries("web.test");
    assert.equal((await curlThrough(port, url, `bob:${PASSWORD}`)).stdout, "hello /cached");
    await new Promise((resolve) => setTimeout(resolve, 1700)); // past cache_ttl (the record's TTL is 300s)
    const afterExpiry = dns.queries("web.test");
    assert.equal((await curlThrough(port, url, `bob:${PASSWORD}`)).stdout, "hello /cached");
    assert.equal((await curlThrough(port, url, `alice:${PASSWORD}`)).stdout, "hello /cached");
    assert.equal(dns.queries("web.test") - afterExpiry, 1, "one query after the expiry, then the cache");
    assert.ok(asked >= 1);
  });

  it("SIGHUP switches to other servers", async () => {
    const second = await startDnsServer({ records: { "moved.test": { A: ["127.0.0.1"] } } });
    try {
      const url = `http://moved.test:${String(http.port)}/moved`;
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD}`)).exitCode, 97);
      fixture.write("dns.yaml", config(`"${second.address}"`));
      const from = proxy.stdout().length;
      process.kill(proxy.child.pid!, "SIGHUP");
      await proxy.waitForEvent("config_reloaded", from);
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD}`)).stdout, "hello /moved");
      assert.equal(second.queries("moved.test", "A"), 1);
    } finally {
      await second.close();
    }
  });

  it("check-config accepts the dns section and names every bad value by its path", async () => {
    const good = await runCli(["check-config", "--config", fixture.write("good.yaml", config(`"${dns.address}"`))]);
    assert.equal(good.code, 0, good.stderr);
    const bad = fixture.write(
      "bad.yaml",
      config(`"${dns.address}", "ns1.example", "[::1]:99999"`, ["  retries: 3"])
        .replace("timeout: 400ms", "timeout: 2m")
        .replace("tries: 2", "tries: 0")
        .replace("hosts_file: hosts.txt", "hosts_file: missing-hosts"),
    );
    const result = await runCli(["check-config", "--config", bad]);
    assert.equal(result.code, 2);
    for (const line of [
      /dns\.servers\[1\]: expected an IP address with an optional port/,
      /dns\.servers\[2\]: expected an IP address/,
      /dns\.timeout: must be between 1ms and 60s/,
      /dns\.tries: /,
      /dns\.retries: unknown key/,
    ]) {
      assert.match(result.stderr, line);
    }
    const missing = fixture.write("missing.yaml", config(`"${dns.address}"`).replace("hosts.txt", "missing-hosts"));
    const missingResult = await runCli(["check-config", "--config", missing]);
    assert.equal(missingResult.code, 2);
    assert.match(missingResult.stderr, /dns\.hosts_file: cannot read .*missing-hosts/);
  });
});
