// The DNS resolver against a real DNS server on loopback (test/helpers/dns-server.ts): hosts
// file, family order, caches (simulated clock), timeout × tries, the per-key in-flight cap.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DNS_DEFAULTS, resolveDnsOptions } from "../../dist/dns/options.js";
import { DnsConfigError, DnsLookupError, DnsResolver, parseDnsServer } from "@gatehouse-proxy/core/engine";
import type { DnsOptions } from "@gatehouse-proxy/core/engine";
import { startDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import type { TestDnsServer } from "../../../../test/dist/helpers/dns-server.js";

/** The code of a lookup that must fail (and fail with a DnsLookupError). */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DnsLookupError, `expected a DnsLookupError, got ${String(error)}`);
    return error.code;
  }
  assert.fail("the lookup succeeded");
}

function problemsOf(options: unknown): string[] {
  try {
    resolveDnsOptions(options as DnsOptions);
  } catch (error) {
    assert.ok(error instanceof DnsConfigError);
    return [...error.problems];
  }
  return [];
}

describe("dns options", () => {
  it("defaults: the system's servers, 2s × 2 tries, 60s positive and 5s negative cache, 8 in flight, /etc/hosts", () => {
    const resolved = resolveDnsOptions();
    assert.equal(resolved.servers, undefined);
    assert.equal(resolved.timeoutMs, 2000);
    assert.equal(resolved.tries, 2);
    assert.equal(resolved.cacheTtlMs, 60_000);
    assert.equal(resolved.negativeCacheTtlMs, 5000);
    assert.equal(resolved.maxInFlightPerIdentity, DNS_DEFAULTS.maxInFlightPerIdentity);
    assert.equal(resolved.hostsFile, "/etc/hosts");
    assert.equal(resolved.hostsFileRequired, false);
  });

  it("takes durations as the other keys do", () => {
    const resolved = resolveDnsOptions({ timeout: "250ms", tries: 3, cache_ttl: "5m", negative_cache_ttl: 0 });
    assert.deepEqual(
      [resolved.timeoutMs, resolved.tries, resolved.cacheTtlMs, resolved.negativeCacheTtlMs],
      [250, 3, 300_000, 0],
    );
  });

  it("parses servers as setServers takes them, and nothing that would need a lookup", () => {
    assert.deepEqual(parseDnsServer("192.0.2.53"), { host: "192.0.2.53", port: 53 });
    assert.deepEqual(parseDnsServer("192.0.2.53:5353"), { host: "192.0.2.53", port: 5353 });
    assert.deepEqual(parseDnsServer("2001:db8::53"), { host: "2001:db8::53", port: 53 });
    assert.deepEqual(parseDnsServer("[2001:db8::53]"), { host: "2001:db8::53", port: 53 });
    assert.deepEqual(parseDnsServer("[::1]:5300"), { host: "::1", port: 5300 });
    for (const bad of ["ns1.example", "192.0.2.53:0", "192.0.2.53:65536", "[192.0.2.53]:53", "::1:53x", "", "1.2.3"]) {
      assert.equal(parseDnsServer(bad), undefined, bad);
    }
  });

  it("names every bad value by its path", () => {
    assert.deepEqual(
      problemsOf({
        servers: ["1.1.1.1", "dns.example"],
        timeout: "0ms",
        tries: 0,
        cache_ttl: "soon",
        max_in_flight_per_identity: 0,
        hosts_file: "",
        retries: 2,
      }),
      [
        'dns.servers[1]: expected an IP address with an optional port (1.1.1.1, 1.1.1.1:53, [::1]:53), got "dns.example"',
        "dns.timeout: must be between 1ms and 60s",
        "dns.tries: must be a whole number from 1 to 10",
        'dns.cache_ttl: expected a duration such as 500ms, 60s or 5m, got "soon"',
        "dns.max_in_flight_per_identity: must be a whole number of at least 1",
        "dns.hosts_file: must be a file path",
        "dns.retries: unknown key",
      ],
    );
    assert.match(problemsOf({ servers: [] })[0]!, /^dns\.servers: give at least one server/);
    assert.match(problemsOf({ timeout: "2m" })[0]!, /^dns\.timeout: must be between/);
  });

  it("a configured hosts file that cannot be read is a config error; the default one may be missing", () => {
    assert.throws(
      () => new DnsResolver({ hosts_file: "/nonexistent/gatehouse-hosts" }),
      (error: unknown) => error instanceof DnsConfigError && /^dns\.hosts_file: cannot read/.test(error.problems[0]!),
    );
  });
});

describe("dns resolver", () => {
  let dns: TestDnsServer;
  let dir: string;
  let hostsFile: string;
  const resolvers: DnsResolver[] = [];
  /**
   * A resolver against the test server with a private hosts file (and a simulated clock, if
   * given). The server answers at once; 1 s per try leaves room for a loaded machine (tests of
   * the timeout itself give their own).
   */
  const resolver = (options: DnsOptions = {}, now?: () => number): DnsResolver => {
    const made = new DnsResolver(
      { servers: [dns.address], hosts_file: hostsFile, timeout: "1s", tries: 2, ...options },
      { ...(now !== undefined && { now }), hostsCheckIntervalMs: 1000 },
    );
    resolvers.push(made);
    return made;
  };

  before(async () => {
    dns = await startDnsServer({
      records: {
        "both.test": { A: ["192.0.2.10", "192.0.2.11"], AAAA: ["2001:db8::10"] },
        "v6only.test": { AAAA: ["2001:db8::6"] },
        "empty.test": {},
        "short.test": { A: ["192.0.2.20"], ttl: 2 },
        "long.test": { A: ["192.0.2.30"], ttl: 3600 },
        "zero.test": { A: ["192.0.2.40"], ttl: 0 },
      },
      silent: ["silent.test", "silent2.test", "silent3.test", "shared.test"],
    });
    dir = mkdtempSync(join(tmpdir(), "gatehouse-dns-"));
    hostsFile = join(dir, "hosts");
    writeFileSync(
      hostsFile,
      [
        "# comment line",
        "127.0.0.1 localhost",
        "::1       localhost ip6-localhost",
        "10.9.9.9  Intranet.Test  alias.test # trailing comment",
        "fd00::9   intranet.test v6host.test",
        "not-an-ip broken.test",
        "",
      ].join("\n"),
    );
  });
  after(async () => {
    for (const made of resolvers) made.close();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers an IP address as itself, without a query", async () => {
    const r = resolver();
    const before = dns.log.length;
    assert.deepEqual(await r.lookup("192.0.2.1"), { address: "192.0.2.1", family: 4 });
    assert.deepEqual(await r.lookup("2001:db8::1"), { address: "2001:db8::1", family: 6 });
    assert.equal(dns.log.length, before);
  });

  it("answers from the hosts file first (any case, trailing dot), IPv4 before IPv6, never asking the server", async () => {
    const r = resolver();
    const before = dns.log.length;
    assert.deepEqual(await r.lookup("localhost"), { address: "127.0.0.1", family: 4 });
    assert.deepEqual(await r.lookup("INTRANET.test."), { address: "10.9.9.9", family: 4 });
    assert.deepEqual(await r.lookup("alias.test"), { address: "10.9.9.9", family: 4 });
    assert.deepEqual(await r.lookup("v6host.test"), { address: "fd00::9", family: 6 });
    assert.deepEqual(await r.lookup("ip6-localhost"), { address: "::1", family: 6 });
    assert.deepEqual(dns.log.slice(before), [], "the hosts file's names were sent to the server");
    assert.equal(await failure(r.lookup("broken.test")), "ENOTFOUND", "a line without an address is no entry");
    assert.deepEqual(dns.log.slice(before), ["broken.test/A"]);
  });

  it("answers localhost and *.localhost as loopback even when the hosts file lacks them (RFC 6761)", async () => {
    const bare = join(dir, "hosts-bare");
    writeFileSync(bare, "10.1.1.1 other.test\n");
    const r = resolver({ hosts_file: bare });
    const before = dns.log.length;
    assert.deepEqual(await r.lookup("localhost"), { address: "127.0.0.1", family: 4 });
    assert.deepEqual(await r.lookup("app.LOCALHOST."), { address: "127.0.0.1", family: 4 });
    assert.equal(dns.log.length, before);
  });

  it("re-reads the hosts file when it changes (checked at most once per interval)", async () => {
    let clock = 1_000_000;
    const file = join(dir, "hosts-changing");
    writeFileSync(file, "10.0.0.1 moving.test\n");
    const r = resolver({ hosts_file: file }, () => clock);
    assert.equal((await r.lookup("moving.test")).address, "10.0.0.1");
    writeFileSync(file, "10.0.0.2   moving.test # moved, and a different size\n");
    clock += 500;
    assert.equal((await r.lookup("moving.test")).address, "10.0.0.1", "checked again only after the interval");
    clock += 600;
    assert.equal((await r.lookup("moving.test")).address, "10.0.0.2");
    rmSync(file);
    clock += 1100;
    assert.equal((await r.lookup("moving.test")).address, "10.0.0.2", "a vanished file keeps the last table");
  });

  it("returns the first A record; AAAA is asked only for a name without one", async () => {
    const r = resolver();
    const start = dns.log.length;
    assert.deepEqual(await r.lookup("both.test"), { address: "192.0.2.10", family: 4 });
    assert.deepEqual(await r.lookup("v6only.test"), { address: "2001:db8::6", family: 6 });
    assert.deepEqual(dns.log.slice(start), ["both.test/A", "v6only.test/A", "v6only.test/AAAA"]);
  });

  it("NXDOMAIN → ENOTFOUND (AAAA not asked); a name without addresses → ENODATA", async () => {
    const r = resolver();
    const start = dns.log.length;
    assert.equal(await failure(r.lookup("nowhere.test")), "ENOTFOUND");
    assert.equal(await failure(r.lookup("empty.test")), "ENODATA");
    assert.deepEqual(dns.log.slice(start), ["nowhere.test/A", "empty.test/A", "empty.test/AAAA"]);
  });

  it("caches an answer for its own TTL when that is below cache_ttl", async () => {
    let clock = 5_000_000;
    const r = resolver({ cache_ttl: "60s" }, () => clock);
    const asked = (): number => dns.queries("short.test");
    const start = asked();
    await r.lookup("short.test");
    clock += 1900;
    await r.lookup("short.test");
    assert.equal(asked() - start, 1, "answered from the cache within the record's 2s TTL");
    clock += 200;
    await r.lookup("short.test");
    assert.equal(asked() - start, 2, "asked again once the record's TTL passed");
  });

  it("caches an answer no longer than cache_ttl; a zero TTL or cache_ttl 0 is not cached", async () => {
    let clock = 7_000_000;
    const capped = resolver({ cache_ttl: "1s" }, () => clock);
    const start = dns.queries("long.test");
    await capped.lookup("long.test");
    clock += 900;
    await capped.lookup("long.test");
    assert.equal(dns.queries("long.test") - start, 1);
    clock += 200;
    await capped.lookup("long.test");
    assert.equal(dns.queries("long.test") - start, 2, "the 3600s TTL is capped at cache_ttl");

    const zeroStart = dns.queries("zero.test");
    await capped.lookup("zero.test");
    await capped.lookup("zero.test");
    assert.equal(dns.queries("zero.test") - zeroStart, 2, "a record with TTL 0 is not reused");

    const off = resolver({ cache_ttl: 0 }, () => clock);
    const offStart = dns.queries("long.test");
    await off.lookup("long.test");
    await off.lookup("long.test");
    assert.equal(dns.queries("long.test") - offStart, 2);
  });

  it("remembers NXDOMAIN for negative_cache_ttl, then asks again (and sees a name that appeared)", async () => {
    let clock = 9_000_000;
    const r = resolver({ negative_cache_ttl: "5s" }, () => clock);
    const start = dns.queries("later.test");
    assert.equal(await failure(r.lookup("later.test")), "ENOTFOUND");
    dns.set("later.test", { A: ["192.0.2.50"] });
    clock += 4900;
    assert.equal(await failure(r.lookup("later.test")), "ENOTFOUND", "still the cached NXDOMAIN");
    assert.equal(dns.queries("later.test") - start, 1);
    clock += 200;
    assert.equal((await r.lookup("later.test")).address, "192.0.2.50");
    dns.delete("later.test");
  });

  it("a server that never answers: ETIMEOUT after timeout × tries, and nothing is cached", async () => {
    const r = resolver({ timeout: "150ms", tries: 2 });
    const started = performance.now();
    assert.equal(await failure(r.lookup("silent.test")), "ETIMEOUT");
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 600, `failed after ${elapsed.toFixed(0)} ms, expected ~300`);
    const asked = dns.queries("silent.test");
    await failure(r.lookup("silent.test"));
    assert.ok(dns.queries("silent.test") > asked, "a timeout is not a cached answer");
  });

  it("a lookup whose servers never answer does not delay another name", async () => {
    const r = resolver({ timeout: "2s", tries: 1 });
    const names = Array.from({ length: 16 }, (_, index) => `stuck-${String(index)}.test`);
    for (const name of names) dns.silence(name);
    const stuck = names.map((name, index) => failure(r.lookup(name, { key: `client-${String(index)}` })));
    const started = performance.now();
    assert.equal((await r.lookup("both.test", { key: "someone-else" })).address, "192.0.2.10");
    assert.equal((await r.lookup("localhost")).address, "127.0.0.1");
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 200, `took ${elapsed.toFixed(0)} ms next to 16 slow lookups`);
    assert.deepEqual(await Promise.all(stuck), new Array(16).fill("ETIMEOUT"));
  });

  it("identical names in flight share one query", async () => {
    const r = resolver({ timeout: "100ms", tries: 1 });
    const start = dns.queries("shared.test");
    const codes = await Promise.all([1, 2, 3].map((n) => failure(r.lookup("shared.test", { key: `k${String(n)}` }))));
    assert.deepEqual(codes, ["ETIMEOUT", "ETIMEOUT", "ETIMEOUT"]);
    assert.equal(dns.queries("shared.test") - start, 1);
  });

  it("caps lookups in flight per key: the next one is refused at once, other keys and answered names are not", async () => {
    const r = resolver({ timeout: "300ms", tries: 1, max_in_flight_per_identity: 2 });
    const first = new AbortController();
    const waiting = [
      r.lookup("silent.test", { key: "mallory", signal: first.signal }).catch((error: unknown) => error),
      failure(r.lookup("silent2.test", { key: "mallory" })),
    ];
    assert.equal(r.inFlight("mallory"), 2);
    const asked = dns.log.length;
    const started = performance.now();
    assert.equal(await failure(r.lookup("silent3.test", { key: "mallory" })), "ELOOKUPLIMIT");
    assert.ok(performance.now() - started < 50, "refused at once");
    assert.equal(dns.log.length, asked, "the refused lookup sent no query");
    assert.equal((await r.lookup("both.test", { key: "alice" })).address, "192.0.2.10");
    assert.equal((await r.lookup("localhost", { key: "mallory" })).address, "127.0.0.1", "hosts file: no slot needed");

    first.abort(new Error("session ended"));
    const aborted = await waiting[0];
    assert.ok(aborted instanceof Error && aborted.message === "session ended", "the caller stops waiting at once");
    assert.equal(r.inFlight("mallory"), 2, "the query still runs (to its deadline) and still counts");
    assert.equal(await waiting[1], "ETIMEOUT");
    assert.equal(r.inFlight("mallory"), 0);
    assert.equal(await failure(r.lookup("nowhere.test", { key: "mallory" })), "ENOTFOUND", "slots come back");
  });

  it("an already aborted signal sends no query", async () => {
    const r = resolver();
    const before = dns.log.length;
    const reason = new Error("gone");
    await assert.rejects(r.lookup("fresh.test", { key: "k", signal: AbortSignal.abort(reason) }), reason);
    assert.equal(dns.log.length, before);
    assert.equal(r.inFlight("k"), 0);
  });
});
