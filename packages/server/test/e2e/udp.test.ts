// UDP ASSOCIATE (issue 19) through the real gatehouse process: a byte-level client and PySocks
// (Debian's python3-socks under /usr/bin/python3) relay to a UDP echo server and to a real DNS
// server on 127.0.0.1, over IPv4 and IPv6; spoofed sources, FRAG ≠ 0 and policy-denied
// destinations are dropped and counted while the association lives on; an association counts
// against the per-identity limit as a tunnel does and ends with its TCP connection; a flood is
// bounded by max_in_flight; with `workers: 2` each worker owns its relay ports and a full port
// range is answered 01.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import type { TestDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import { api, listSessions } from "../helpers/admin-api.js";
import { runCli, startCli } from "../helpers/cli.js";
import { GC_PROBE_NODE_ARGS, liveMemory } from "../helpers/live-memory.js";
import type { RunningCli } from "../helpers/cli.js";
import { CHEAP_SCRYPT, makeFixtureDir } from "../helpers/fixtures.js";
import { attempt, SUCCEEDED, waitFor } from "../helpers/socks-attempt.js";
import { adminGet, echoRoundTrip, metricValue, startEcho } from "../helpers/tunnel.js";
import { AssociationRefused, associate, dnsAnswerAddresses, dnsQuery, startUdpEcho } from "../helpers/udp-client.js";
import type { UdpAssociationClient } from "../helpers/udp-client.js";

const PASSWORDS = { alice: "alice-Udp-1", bob: "bob-Udp-2" } as const;
const PYTHON = "/usr/bin/python3"; // Debian's, where python3-socks is installed (not a pyenv one on PATH)

/** A base for a relay port range unlikely to be taken by anything else on the machine. */
function portBase(): number {
  return 42_000 + Math.floor(Math.random() * 20_000);
}

async function metrics(proxy: RunningCli): Promise<string> {
  return (await adminGet(proxy.adminPort!, "/metrics")).body;
}

async function dropped(proxy: RunningCli, reason: string): Promise<number> {
  return metricValue(await metrics(proxy), "proxy_udp_dropped_total", { reason });
}

/** Waits until the proxy counted `count` more drops for `reason` than `before`. */
async function droppedAtLeast(proxy: RunningCli, reason: string, count: number): Promise<void> {
  await waitFor(async () => (await dropped(proxy, reason)) >= count, `${String(count)} ${reason} drops`);
}

/** The first `event` line after `since` that `matches`. */
async function lineWhere(
  proxy: RunningCli,
  event: string,
  since: number,
  matches: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(() => {
    found = proxy
      .stdout()
      .slice(since)
      .split("\n")
      .filter((line) => line.includes(`"event":"${event}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find(matches);
    return found !== undefined;
  }, `a matching ${event} line`);
  return found!;
}

/** The session_end line of the association whose relay port is `relayPort`. */
function endOf(proxy: RunningCli, relayPort: number, since: number): Promise<Record<string, unknown>> {
  return lineWhere(
    proxy,
    "session_end",
    since,
    (line) => typeof line.udp_relay === "string" && line.udp_relay.endsWith(`:${String(relayPort)}`),
  );
}

/** Runs a PySocks script under Debian's python3; resolves with its stdout. */
function runPython(script: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ["-c", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`python exited ${String(code)}: ${stderr}`));
    });
  });
}

const PYSOCKS_SCRIPT = `
import socket, sys, socks
port, user, password, echo_port, dns_port, query_hex = sys.argv[1:7]
s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
s.set_proxy(socks.SOCKS5, "127.0.0.1", int(port), username=user, password=password)
s.settimeout(10)
s.sendto(b"hello from pysocks", ("127.0.0.1", int(echo_port)))
data, source = s.recvfrom(4096)
print("echo", data.decode(), source[0], source[1])
s.sendto(bytes.fromhex(query_hex), ("127.0.0.1", int(dns_port)))
data, source = s.recvfrom(4096)
print("dns", data.hex(), source[1])
s.close()
`;

describe("UDP ASSOCIATE through the gatehouse process", () => {
  const fixture = makeFixtureDir();
  let proxy: RunningCli;
  let echo: Awaited<ReturnType<typeof startUdpEcho>>;
  let echo6: Awaited<ReturnType<typeof startUdpEcho>>;
  let trap: Awaited<ReturnType<typeof startUdpEcho>>;
  let tcpEcho: Awaited<ReturnType<typeof startEcho>>;
  let dns: TestDnsServer;
  let port: number;
  let port6: number;
  const base = portBase();
  const open: UdpAssociationClient[] = [];
  const login = { user: "alice", password: PASSWORDS.alice } as const;

  before(async () => {
    [echo, echo6, trap, tcpEcho] = await Promise.all([
      startUdpEcho(),
      startUdpEcho("::1"),
      startUdpEcho(),
      startEcho(),
    ]);
    dns = await startDnsServer({ records: { "echo.test": { A: ["127.0.0.1"] } }, silent: ["silent.test"] });
    const [alice, bob] = await Promise.all([
      hashPassword(PASSWORDS.alice, CHEAP_SCRYPT),
      hashPassword(PASSWORDS.bob, CHEAP_SCRYPT),
    ]);
    const file = fixture.write(
      "udp.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        `    udp: { enabled: true, ports: "${String(base)}-${String(base + 15)}", idle_timeout: 5m, max_in_flight: 32 }`,
        "  - listen: '[::1]:0'",
        "    require_auth: true",
        "    udp: { enabled: true }",
        "auth:",
        "  provider: local",
        "  providers:",
        "    local:",
        "      use: static",
        "      users:",
        `        alice: { password: "${alice}" }`,
        `        bob: { password: "${bob}" }`,
        "dns:",
        `  servers: ["${dns.address}"]`,
        "  timeout: 2s",
        "  tries: 1",
        "policy:",
        "  default: deny",
        "  max_connections_per_identity: 2",
        "  rules:",
        "    - name: udp-trap",
        "      action: deny",
        "      command: udp",
        `      to: ["127.0.0.1:${String(trap.port)}"]`,
        "    - action: allow",
        "      authenticated: true",
        "admin:",
        "  listen: 127.0.0.1:0",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    proxy = await startCli(["--config", file], {}, { nodeArgs: GC_PROBE_NODE_ARGS });
    [port, port6] = proxy.ports as [number, number];
  });

  after(async () => {
    for (const association of open) association.close();
    await proxy.stop();
    for (const server of [echo, echo6, trap, tcpEcho]) server.close();
    await dns.close();
    fixture.remove();
  });

  /** Opens an association that the after() hook closes if the test does not. */
  async function opened(options: Parameters<typeof associate>[1] = login): Promise<UdpAssociationClient> {
    const association = await associate(port, options);
    open.push(association);
    return association;
  }

  it("relays to an address, to a name and a real DNS query; the record and the metrics count it; it ends with its TCP connection", async () => {
    const since = proxy.stdout().length;
    const association = await opened();
    assert.equal(association.relayHost, "127.0.0.1");
    assert.ok(
      association.relayPort >= base && association.relayPort <= base + 15,
      `relay port ${String(association.relayPort)}`,
    );
    association.send("127.0.0.1", echo.port, "by address");
    const byAddress = await association.receive();
    assert.deepEqual(
      { host: byAddress.host, port: byAddress.port, text: byAddress.payload.toString() },
      { host: "127.0.0.1", port: echo.port, text: "by address" },
    );
    association.send("echo.test", echo.port, "by name");
    assert.equal((await association.receive()).payload.toString(), "by name");
    assert.equal(dns.queries("echo.test", "A"), 1, "the proxy resolved the name once");
    association.send("127.0.0.1", dns.port, dnsQuery("echo.test", 0x4242));
    const answer = await association.receive();
    assert.equal(answer.port, dns.port);
    assert.equal(answer.payload.readUInt16BE(0), 0x4242);
    assert.deepEqual(dnsAnswerAddresses(answer.payload), ["127.0.0.1"]);
    assert.equal(metricValue(await metrics(proxy), "proxy_udp_associations_active"), 1);
    const sent = "by address".length + "by name".length + dnsQuery("echo.test", 0).length;
    const listed = (await listSessions(proxy.adminPort!, "identity=alice")).sessions;
    assert.equal(listed.length, 1, "the admin API lists the association");
    assert.deepEqual(
      { command: listed[0]!.command, relay: listed[0]!.relay, up: listed[0]!.bytes.up, udp: listed[0]!.udp },
      {
        command: "udp",
        relay: "udp",
        up: sent,
        udp: {
          relay: `127.0.0.1:${String(association.relayPort)}`,
          client: `127.0.0.1:${String(association.socket.address().port)}`,
          datagrams: { up: 3, down: 3 },
          dropped: {},
        },
      },
    );
    const table = await runCli(["sessions", "list", "--admin", `http://127.0.0.1:${String(proxy.adminPort!)}`]);
    assert.match(
      table.stdout,
      new RegExp(
        `\\salice\\s+127\\.0\\.0\\.1:\\d+\\s+udp via 127\\.0\\.0\\.1:${String(association.relayPort)}\\s+${String(sent)}\\s`,
      ),
      table.stdout,
    );

    association.control.destroy();
    const end = await endOf(proxy, association.relayPort, since);
    assert.equal(end.command, "udp");
    assert.equal(end.identity, "alice");
    assert.equal(end.reason, "client_closed");
    assert.equal(end.relay, "udp");
    assert.equal(end.datagrams_client_to_dest, 3);
    assert.equal(end.datagrams_dest_to_client, 3);
    assert.equal(end.bytes_client_to_dest, sent);
    assert.equal(end.udp_relay, `127.0.0.1:${String(association.relayPort)}`);
    const text = await metrics(proxy);
    assert.equal(metricValue(text, "proxy_udp_associations_active"), 0);
    assert.ok(metricValue(text, "proxy_udp_datagrams_total", { direction: "client_to_dest" }) >= 3);
    assert.ok(metricValue(text, "proxy_udp_bytes_total", { direction: "dest_to_client" }) >= sent);
    // The relay port is closed with the association: the next association may take it again.
    const sinceNext = proxy.stdout().length;
    const next = await opened();
    next.send("127.0.0.1", echo.port, "again");
    assert.equal((await next.receive()).payload.toString(), "again");
    const [nextListed] = (await listSessions(proxy.adminPort!, "identity=alice")).sessions;
    const closed = await api(proxy.adminPort!, "/api/sessions/close", { body: { id: nextListed!.id } });
    assert.deepEqual(closed.body, { closed: 1 });
    assert.equal((await endOf(proxy, next.relayPort, sinceNext)).reason, "closed_by_admin");
    next.close();
  });

  it("PySocks (python3-socks) relays through it: an echo and a real DNS answer", async () => {
    const out = await runPython(PYSOCKS_SCRIPT, [
      String(port),
      "alice",
      PASSWORDS.alice,
      String(echo.port),
      String(dns.port),
      dnsQuery("echo.test", 0x1234).toString("hex"),
    ]);
    const [echoLine, dnsLine] = out.trim().split("\n");
    assert.equal(echoLine, `echo hello from pysocks 127.0.0.1 ${String(echo.port)}`);
    const [, hex, source] = dnsLine!.split(" ");
    const message = Buffer.from(hex!, "hex");
    assert.equal(message.readUInt16BE(0), 0x1234);
    assert.deepEqual(dnsAnswerAddresses(message), ["127.0.0.1"]);
    assert.equal(source, String(dns.port));
  });

  it("over IPv6: a listener on ::1 replies with an IPv6 relay and relays to [::1]", async () => {
    const association = await associate(port6, { ...login, proxyHost: "::1" });
    open.push(association);
    assert.equal(association.relayHost, "::1");
    association.send("::1", echo6.port, "six");
    const back = await association.receive();
    assert.deepEqual(
      { host: back.host, port: back.port, text: back.payload.toString() },
      {
        host: "::1",
        port: echo6.port,
        text: "six",
      },
    );
    association.close();
  });

  it("drops a spoofed source (another address, or another port once declared) and FRAG ≠ 0, counted; the association lives on", async () => {
    const association = await opened();
    const before = { foreign: await dropped(proxy, "foreign_source"), fragmented: await dropped(proxy, "fragmented") };
    const echoed = echo.received();
    // From 127.0.0.2 (all of 127/8 is local on Linux): a valid datagram, the client's relay port.
    const stranger = await associateFromElsewhere("127.0.0.2");
    stranger.send(association.relayPort, echo.port, "spoofed address");
    // From the client's address but another port than the one it declared.
    const otherPort = await associateFromElsewhere("127.0.0.1");
    otherPort.send(association.relayPort, echo.port, "spoofed port");
    association.send("127.0.0.1", echo.port, "fragment", { frag: 1 });
    await droppedAtLeast(proxy, "foreign_source", before.foreign + 2);
    await droppedAtLeast(proxy, "fragmented", before.fragmented + 1);
    stranger.close();
    otherPort.close();
    assert.equal(echo.received(), echoed, "nothing dropped reached the destination");
    association.send("127.0.0.1", echo.port, "still alive");
    assert.equal((await association.receive()).payload.toString(), "still alive");
    association.close();
  });

  it("a policy-denied destination is dropped (logged once, counted) while an allowed one works in the same association", async () => {
    const since = proxy.stdout().length;
    const association = await opened();
    const before = await dropped(proxy, "policy_denied");
    association.send("127.0.0.1", trap.port, "to the trap");
    association.send("127.0.0.1", trap.port, "to the trap again");
    association.send("127.0.0.1", echo.port, "allowed");
    assert.equal((await association.receive()).payload.toString(), "allowed");
    await droppedAtLeast(proxy, "policy_denied", before + 2);
    assert.equal(trap.received(), 0, "no datagram reached the denied destination");
    const denial = await proxy.waitForEvent("policy_denied", since);
    assert.deepEqual(
      { command: denial.command, rule: denial.rule, destination: denial.destination, identity: denial.identity },
      { command: "udp", rule: "udp-trap", destination: `127.0.0.1:${String(trap.port)}`, identity: "alice" },
    );
    assert.ok(
      metricValue(await metrics(proxy), "proxy_policy_denied_total", { rule: "udp-trap" }) >= 1,
      "counted by rule",
    );
    association.close();
    const end = await endOf(proxy, association.relayPort, since);
    assert.deepEqual(end.datagrams_dropped, { policy_denied: 2 });
  });

  it("an association holds a per-identity slot as a tunnel does: bob's third is refused 02", async () => {
    const since = proxy.stdout().length;
    const bob = { user: "bob", password: PASSWORDS.bob } as const;
    const tunnel = await attempt(port, tcpEcho.port, bob);
    assert.equal(tunnel.result, SUCCEEDED);
    const first = await opened(bob);
    await assert.rejects(opened(bob), (error: unknown) => error instanceof AssociationRefused && error.code === 0x02);
    const denial = await proxy.waitForEvent("policy_denied", since);
    assert.deepEqual(
      { command: denial.command, reason: denial.reason },
      {
        command: "udp",
        reason: "max_connections_per_identity",
      },
    );
    // The tunnel ends: its slot goes to a new association.
    tunnel.socket.destroy();
    await lineWhere(proxy, "session_end", since, (line) => line.command === "connect");
    const second = await opened(bob);
    second.send("127.0.0.1", echo.port, "slot");
    assert.equal((await second.receive()).payload.toString(), "slot");
    assert.equal(
      await echoRoundTrip(
        (await attempt(port, tcpEcho.port, { user: "alice", password: PASSWORDS.alice })).socket,
        "x",
      ),
      "x",
    );
    first.close();
    second.close();
  });

  it("a flood bounded in count and time keeps memory flat: datagrams waiting on a silent name stop at max_in_flight", async (t) => {
    const association = await opened();
    const PAYLOAD = 16_000;
    const payload = Buffer.alloc(PAYLOAD, 0x61);
    const FLOOD = 8000;
    /** One flood to a name whose DNS server never answers; resolves with the drops it caused and the memory live after it. */
    const flood = async (): Promise<{ limited: number; liveKiB: number; rssKiB: number }> => {
      const before = await dropped(proxy, "in_flight_limit");
      const started = Date.now();
      for (let sent = 0; sent < FLOOD; sent += 250) {
        for (let i = 0; i < 250; i++) association.send("silent.test", 9, payload);
        await new Promise((resolve) => setImmediate(resolve));
      }
      let settled = -1;
      await waitFor(async () => {
        const now = await dropped(proxy, "in_flight_limit");
        const done = now === settled && now > before;
        settled = now;
        return done;
      }, "the flood to be read");
      assert.ok(Date.now() - started < 30_000);
      const memory = await liveMemory(proxy);
      return {
        limited: settled - before,
        liveKiB: Math.round((memory.heapUsed + memory.external) / 1024),
        rssKiB: Math.round(memory.rss / 1024),
      };
    };
    // Node allocates each received datagram anew, and a dead one is freed only by a collection,
    // which V8 may put off until 64 MiB of them piled up: so RSS alone cannot tell held memory
    // from garbage (on a loaded machine fewer datagrams are read and no collection may run at
    // all). The probe collects after each flood; what is live then must not grow with the floods.
    const floods: { limited: number; liveKiB: number; rssKiB: number }[] = [];
    for (let i = 0; i < 6; i++) floods.push(await flood());
    const warm = floods[2]!;
    const last = floods[5]!;
    const laterDropped = floods.slice(3).reduce((sum, entry) => sum + entry.limited, 0);
    const heldUnboundedKiB = (laterDropped * PAYLOAD) / 1024;
    const list = (pick: (entry: (typeof floods)[number]) => number): string => floods.map(pick).join(", ");
    const figures = `after each flood and a collection: live (heap + external) ${list((e) => e.liveKiB)} KiB, RSS ${list((e) => e.rssKiB)} KiB; dropped ${list((e) => e.limited)}`;
    t.diagnostic(figures);
    // Datagrams beyond the 32 waiting on the lookup are dropped as they arrive, never queued:
    // unbounded, the last three floods alone would hold their payloads (heldUnboundedKiB, at
    // least 15.6 MiB given the first assertion). Measured: live memory after a collection moved
    // by under 200 KiB from the third flood to the sixth.
    assert.ok(laterDropped > 1000, figures);
    assert.ok(
      last.liveKiB - warm.liveKiB < 2048,
      `${figures}; unbounded ≥ ${String(Math.round(heldUnboundedKiB))} KiB`,
    );
    // RSS keeps malloc's arenas and V8's pages: a looser bound, for a leak outside the JS heap.
    assert.ok(last.rssKiB - warm.rssKiB < 32_768, figures);
    // The same association carries on once the datagrams waiting on the silent name are dropped
    // (its lookup times out): a datagram sent while they still wait is one over the bound.
    let back: string | undefined;
    for (let tries = 0; back === undefined && tries < 10; tries++) {
      association.send("127.0.0.1", echo.port, "after the flood");
      back = await association.receive(1500).then(
        (datagram) => datagram.payload.toString(),
        () => undefined,
      );
    }
    assert.equal(back, "after the flood");
    association.close();
  });

  /** A UDP socket on `address` that sends well-formed datagrams to a relay port it does not own. */
  async function associateFromElsewhere(
    address: string,
  ): Promise<{ send(relayPort: number, destPort: number, text: string): void; close(): void }> {
    const { createSocket } = await import("node:dgram");
    const { serializeUdpDatagram } = await import("@gatehouse-proxy/core/engine");
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return {
      send(relayPort, destPort, text) {
        socket.send(serializeUdpDatagram("127.0.0.1", destPort, Buffer.from(text)), relayPort, "127.0.0.1");
      },
      close: () => socket.close(),
    };
  }
});

describe("UDP ASSOCIATE with workers: 2", () => {
  const fixture = makeFixtureDir();
  let proxy: RunningCli;
  let echo: Awaited<ReturnType<typeof startUdpEcho>>;
  const base = portBase();

  before(async () => {
    echo = await startUdpEcho();
    const file = fixture.write(
      "workers.yaml",
      [
        "workers: 2",
        "listeners:",
        "  - listen: 127.0.0.1:0",
        `    udp: { enabled: true, ports: "${String(base)}-${String(base + 2)}" }`,
        "admin:",
        "  listen: 127.0.0.1:0",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    proxy = await startCli(["--config", file], { NODE_CLUSTER_SCHED_POLICY: "rr" });
  });

  after(async () => {
    await proxy.stop();
    echo.close();
    fixture.remove();
  });

  it("each worker binds its own relay ports from the range; the range full, UDP ASSOCIATE is answered 01, logged and counted", async () => {
    const port = proxy.ports[0]!;
    const associations: UdpAssociationClient[] = [];
    try {
      for (let i = 0; i < 3; i++) associations.push(await associate(port));
      const relayPorts = associations.map((association) => association.relayPort).sort();
      assert.deepEqual(relayPorts, [base, base + 1, base + 2]);
      for (const [index, association] of associations.entries()) {
        association.send("127.0.0.1", echo.port, `worker ${String(index)}`);
        assert.equal((await association.receive()).payload.toString(), `worker ${String(index)}`);
      }
      await assert.rejects(
        associate(port),
        (error: unknown) => error instanceof AssociationRefused && error.code === 0x01,
      );
      const exhausted = await proxy.waitForEvent("udp_ports_exhausted");
      assert.equal(exhausted.ports, `${String(base)}-${String(base + 2)}`);
      const text = (await adminGet(proxy.adminPort!, "/metrics")).body;
      assert.equal(metricValue(text, "proxy_udp_ports_exhausted_total"), 1);
      assert.equal(metricValue(text, "proxy_udp_associations_active"), 3, "summed over both workers");
    } finally {
      for (const association of associations) association.close();
    }
    // The associations end with their connections on both workers.
    const ends = await proxy.waitForEvents("session_end", 4);
    const byWorker = new Set(ends.filter((line) => line.command === "udp").map((line) => line.worker));
    assert.deepEqual([...byWorker].sort(), [1, 2], "associations were served by both workers");
  });
});
