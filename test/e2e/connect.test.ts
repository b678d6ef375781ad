// CONNECT and KumoMTA-style BIND end to end: real clients (the `socks` npm client, curl and
// byte-level requests) through the engine to real destination servers on loopback.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { SocksClient } from "socks";
import { Command, DnsResolver, Reply } from "@gatehouse-proxy/core/engine";
import type { HostResolver } from "@gatehouse-proxy/core";
import { curl } from "../helpers/curl.js";
import { startDnsServer } from "../helpers/dns-server.js";
import type { TestDnsServer } from "../helpers/dns-server.js";
import { startHttpServer, unusedPort } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { canBind, startRecordingServer } from "../helpers/destinations.js";
import type { RecordingServer } from "../helpers/destinations.js";
import { startBlackhole } from "../helpers/child-proxy.js";
import {
  connectTcp,
  delay,
  negotiateNoAuth,
  normalizeAddress,
  openTunnel,
  readToEnd,
  sendRequest,
  socksConnect,
} from "../helpers/socks-tunnel.js";
import type { SocksReply } from "../helpers/socks-tunnel.js";
import { peerOf, recordOf } from "../helpers/records.js";
import { ManualClock, WHEEL_RESOLUTION_MS, until } from "../helpers/simulated-time.js";

/** Round-trips `text` through an echo tunnel and ends it. */
async function echoThrough(socket: Socket, text: string): Promise<string> {
  const received = readToEnd(socket);
  socket.end(text);
  return (await received).toString();
}

/** Sockets of this machine waiting in SYN-SENT for 127.0.0.1:`port` (Linux's /proc/net/tcp). */
function synsSentTo(port: number): number {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[2] === remote && fields[3] === "02";
    }).length;
}

/** A failure reply is exactly 10 bytes (ATYP 1, 0.0.0.0:0) and the proxy then ends the connection. */
async function assertFailureReply(socket: Socket, reply: SocksReply, code: number): Promise<void> {
  assert.equal(reply.code, code, `reply ${reply.raw.toString("hex")}`);
  assert.equal(reply.raw.length, 10);
  assert.equal(reply.atyp, 1);
  const rest = await readToEnd(socket, 4000);
  assert.equal(rest.length, 0, `nothing follows a failure reply (got ${rest.toString("hex")})`);
  socket.end(); // as a real client does; the proxy would otherwise linger briefly for our FIN
}

describe("CONNECT", () => {
  const lookups: string[] = [];
  let dns: TestDnsServer;
  let resolver: DnsResolver;
  const countingResolver: HostResolver = (host, options) => {
    lookups.push(host);
    return resolver.lookup(host, options);
  };
  let proxy: TestProxy;
  let echo4: RecordingServer;
  let echo6: RecordingServer | undefined;
  let http4: TestServer;
  let http6: TestServer | undefined;
  let echoLocalhost: RecordingServer;
  let ipv6 = false;

  before(async () => {
    ipv6 = await canBind("::1");
    dns = await startDnsServer(); // every name it is asked is NXDOMAIN; nothing leaves the machine
    resolver = new DnsResolver({ servers: [dns.address] });
    proxy = await startProxy({ resolveHost: countingResolver });
    echo4 = await startRecordingServer("127.0.0.1");
    // Whatever `localhost` resolves to first here is where the proxy will dial.
    echoLocalhost = await startRecordingServer((await resolver.lookup("localhost")).address);
    http4 = await startHttpServer();
    if (ipv6) {
      echo6 = await startRecordingServer("::1");
      http6 = await startHttpServer(undefined, "::1");
    }
  });
  after(async () => {
    await Promise.all([
      proxy.close(),
      echo4.close(),
      echoLocalhost.close(),
      http4.close(),
      echo6?.close(),
      http6?.close(),
      dns.close(),
    ]);
    resolver.close();
  });

  describe("with the socks npm client", () => {
    for (const [label, host] of [
      ["IPv4 127.0.0.1", "127.0.0.1"],
      ["IPv6 ::1", "::1"],
      ["domain name localhost", "localhost"],
    ] as const) {
      it(`CONNECT ${label} relays data`, async (t) => {
        if (host === "::1" && !ipv6) return t.skip("::1 cannot be bound on this host");
        const server = host === "::1" ? echo6! : host === "localhost" ? echoLocalhost : echo4;
        const { socket, remoteHost } = await SocksClient.createConnection({
          proxy: { host: "127.0.0.1", port: proxy.port, type: 5 },
          command: "connect",
          destination: { host, port: server.port },
          timeout: 5000,
        });
        const peer = peerOf(socket);
        assert.equal(await echoThrough(socket, `hello ${label}`), `hello ${label}`);
        // The client got the outbound socket's local address: the peer the destination saw.
        const seen = server.seen.at(-1)!;
        assert.equal(normalizeAddress(remoteHost!.host), normalizeAddress(seen.address));
        assert.equal(remoteHost!.port, seen.port);
        const record = await recordOf(proxy, peer);
        assert.equal(record.command, "connect");
        assert.equal(record.reason, "completed");
        const shown = host === "::1" ? `[::1]:${server.port}` : `${host}:${server.port}`;
        assert.equal(record.destination, shown);
      });
    }
  });

  describe("with curl", () => {
    it("--socks5 to an IPv4 URL", async () => {
      const result = await curl(["--socks5", `127.0.0.1:${proxy.port}`, `http://127.0.0.1:${http4.port}/v4`]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout, "hello /v4");
    });

    it("--socks5 to an IPv6 URL ([::1], ATYP 4)", async (t) => {
      if (!ipv6) return t.skip("::1 cannot be bound on this host");
      const result = await curl(["-g", "--socks5", `127.0.0.1:${proxy.port}`, `http://[::1]:${http6!.port}/v6`]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout, "hello /v6");
      assert.equal(http6!.peers.at(-1), "::1");
    });

    it("--socks5-hostname to localhost (the proxy resolves)", async () => {
      const before = lookups.length;
      const server = await startHttpServer(undefined, (await resolver.lookup("localhost")).address);
      try {
        const result = await curl([
          "--socks5-hostname",
          `127.0.0.1:${proxy.port}`,
          `http://localhost:${server.port}/h`,
        ]);
        assert.equal(result.exitCode, 0, result.stderr);
        assert.equal(result.stdout, "hello /h");
        assert.deepEqual(lookups.slice(before), ["localhost"]);
      } finally {
        await server.close();
      }
    });

    it("--socks5-hostname to an IPv6 literal URL", async (t) => {
      if (!ipv6) return t.skip("::1 cannot be bound on this host");
      const result = await curl([
        "-g",
        "--socks5-hostname",
        `127.0.0.1:${proxy.port}`,
        `http://[::1]:${http6!.port}/h6`,
      ]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout, "hello /h6");
    });
  });

  describe("name resolution", () => {
    it("an IPv4 literal sent as a domain name (ATYP 3) is not looked up", async () => {
      const before = lookups.length;
      const { socket, reply } = await openTunnel(proxy.port, "127.0.0.1", echo4.port, { asDomainName: true });
      assert.equal(reply.code, Reply.Succeeded);
      assert.equal(await echoThrough(socket, "literal"), "literal");
      assert.deepEqual(lookups.slice(before), []);
    });

    it("an IPv6 literal sent as a domain name (ATYP 3) is not looked up", async (t) => {
      if (!ipv6) return t.skip("::1 cannot be bound on this host");
      const before = lookups.length;
      const { socket, reply } = await openTunnel(proxy.port, "::1", echo6!.port, { asDomainName: true });
      assert.equal(reply.atyp, 4);
      assert.equal(reply.address, "::1");
      assert.equal(await echoThrough(socket, "literal6"), "literal6");
      assert.deepEqual(lookups.slice(before), []);
    });

    it("a real name is looked up exactly once", async () => {
      const before = lookups.length;
      const { socket } = await openTunnel(proxy.port, "localhost", echoLocalhost.port);
      assert.equal(await echoThrough(socket, "named"), "named");
      assert.deepEqual(lookups.slice(before), ["localhost"]);
    });
  });

  describe("the success reply", () => {
    it("carries the outbound socket's real local address and port (IPv4: 10 bytes, ATYP 1)", async () => {
      const { socket, reply } = await openTunnel(proxy.port, "127.0.0.1", echo4.port);
      try {
        assert.equal(reply.raw.length, 10);
        assert.equal(reply.atyp, 1);
        const seen = echo4.seen.at(-1)!;
        assert.equal(reply.address, normalizeAddress(seen.address));
        assert.equal(reply.port, seen.port);
        assert.notEqual(reply.port, 0);
      } finally {
        socket.destroy();
      }
    });

    it("carries the outbound socket's real local address and port (IPv6: 22 bytes, ATYP 4)", async (t) => {
      if (!ipv6) return t.skip("::1 cannot be bound on this host");
      const { socket, reply } = await openTunnel(proxy.port, "::1", echo6!.port);
      try {
        assert.equal(reply.raw.length, 22);
        assert.equal(reply.atyp, 4);
        const seen = echo6!.seen.at(-1)!;
        assert.equal(reply.address, normalizeAddress(seen.address));
        assert.equal(reply.port, seen.port);
      } finally {
        socket.destroy();
      }
    });

    it("the session record names destination, resolved address and (absent) source", async () => {
      const { socket } = await openTunnel(proxy.port, "localhost", echoLocalhost.port);
      const peer = peerOf(socket);
      await echoThrough(socket, "x");
      const record = await recordOf(proxy, peer);
      assert.equal(record.destination, `localhost:${echoLocalhost.port}`);
      const resolved = echoLocalhost.host.includes(":") ? `[${echoLocalhost.host}]` : echoLocalhost.host;
      assert.equal(record.destinationAddress, `${resolved}:${echoLocalhost.port}`);
      assert.equal(record.sourceAddress, undefined);
      assert.match(record.peer, /^127\.0\.0\.1:\d+$/);
    });
  });
});

describe("CONNECT error replies", () => {
  let proxy: TestProxy;
  let dns: TestDnsServer;
  before(async () => {
    dns = await startDnsServer(); // NXDOMAIN for every name
    proxy = await startProxy({ dns: { servers: [dns.address] } });
  });
  after(async () => {
    await proxy.close();
    await dns.close();
  });

  it("ECONNREFUSED → 05 (an unused port)", async () => {
    const port = await unusedPort();
    const { socket, reply } = await socksConnect(proxy.port, "127.0.0.1", port);
    const peer = peerOf(socket);
    await assertFailureReply(socket, reply, Reply.ConnectionRefused);
    const record = await recordOf(proxy, peer);
    assert.equal(record.reason, "connect_failed:ECONNREFUSED");
    assert.equal(record.destination, `127.0.0.1:${port}`);
  });

  it("ENETUNREACH → 03 (TCP to a multicast address is refused by the kernel)", async () => {
    const { socket, reply } = await socksConnect(proxy.port, "224.0.0.1", 9);
    await assertFailureReply(socket, reply, Reply.NetworkUnreachable);
  });

  it("DNS failure → 04 (NXDOMAIN from the test's DNS server for a .invalid name)", async () => {
    const name = "gatehouse-no-such-host.invalid";
    const { socket, reply } = await socksConnect(proxy.port, name, 80);
    const peer = peerOf(socket);
    await assertFailureReply(socket, reply, Reply.HostUnreachable);
    assert.ok(dns.queries(name) > 0, "the name was asked of the test's DNS server, not the system resolver");
    const record = await recordOf(proxy, peer);
    assert.equal(record.reason, "dns_failed:ENOTFOUND");
    assert.equal(dns.queries("gatehouse-no-such-host.invalid", "A"), 1);
  });

  it("DNS failure → 04 (a resolver rejecting with ENOTFOUND)", async () => {
    const asked: string[] = [];
    const failing = await startProxy({
      resolveHost: (host) => {
        asked.push(host);
        return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }));
      },
    });
    try {
      const { socket, reply } = await socksConnect(failing.port, "nowhere.example", 443);
      await assertFailureReply(socket, reply, Reply.HostUnreachable);
      assert.deepEqual(asked, ["nowhere.example"]);
      const [record] = await failing.sessionsEnded(1);
      assert.equal(record!.reason, "dns_failed:ENOTFOUND");
    } finally {
      await failing.close();
    }
  });

  it("connect timeout → 06 (a destination whose accept queue is full drops our SYN), in simulated time", async () => {
    const hole = await startBlackhole(15_000);
    const fillers: Socket[] = [];
    const clock = new ManualClock();
    const timed = await startProxy({ listeners: [{ connect_timeout: "500ms" }], clock });
    try {
      // Fill the kernel accept queue: connect until one handshake stays unanswered.
      let pending = false;
      for (let i = 0; i < 16 && !pending; i++) {
        const filler = connect({ host: "127.0.0.1", port: hole.port });
        filler.on("error", () => undefined);
        fillers.push(filler);
        pending = await Promise.race([once(filler, "connect").then(() => false), delay(300).then(() => true)]);
      }
      assert.ok(pending, "the blackhole's accept queue never filled");
      const unanswered = synsSentTo(hole.port);
      const socket = await connectTcp(timed.port);
      await negotiateNoAuth(socket);
      const reply = sendRequest(socket, "127.0.0.1", hole.port, { timeoutMs: 5000 });
      // The proxy's own SYN is out and unanswered: the request was read and its deadline armed.
      await until(() => synsSentTo(hole.port) > unanswered, "the proxy's dial to the blackhole");
      clock.advance(499);
      assert.equal(timed.sessions.length, 0, "the dial was cut before the 500 ms connect timeout");
      clock.advance(1 + 2 * WHEEL_RESOLUTION_MS);
      await assertFailureReply(socket, await reply, Reply.TtlExpired);
      const [record] = await timed.sessionsEnded(1);
      assert.equal(record!.reason, "connect_timeout");
    } finally {
      for (const filler of fillers) filler.destroy();
      await Promise.all([timed.close(), hole.stop()]);
    }
  });

  it("another dial error (EINVAL: IPv4 source, IPv6 destination) → 01", async (t) => {
    if (!(await canBind("::1"))) return t.skip("::1 cannot be bound on this host");
    const port = await unusedPort("::1");
    const socket = await connectTcp(proxy.port);
    const peer = peerOf(socket);
    await negotiateNoAuth(socket);
    const bound = await sendRequest(socket, "127.0.0.1", 0, { command: Command.Bind });
    assert.equal(bound.code, Reply.Succeeded);
    const reply = await sendRequest(socket, "::1", port);
    await assertFailureReply(socket, reply, Reply.GeneralFailure);
    const record = await recordOf(proxy, peer);
    assert.equal(record.reason, "connect_failed:EINVAL");
  });
});

describe("BIND (KumoMTA: choose the source address of the next CONNECT)", () => {
  let proxy: TestProxy;
  let echo: RecordingServer;
  let loopback2 = false;
  before(async () => {
    loopback2 = await canBind("127.0.0.2");
    proxy = await startProxy();
    echo = await startRecordingServer("127.0.0.1");
  });
  after(async () => {
    await Promise.all([proxy.close(), echo.close()]);
  });

  it("BIND 127.0.0.2:0 → 00 with the address; the next CONNECT leaves from 127.0.0.2", async (t) => {
    if (!loopback2) return t.skip("127.0.0.2 cannot be bound on this host");
    const socket = await connectTcp(proxy.port);
    const peer = peerOf(socket);
    await negotiateNoAuth(socket);
    const bound = await sendRequest(socket, "127.0.0.2", 0, { command: Command.Bind });
    assert.equal(bound.code, Reply.Succeeded);
    assert.equal(bound.raw.length, 10);
    assert.equal(bound.atyp, 1);
    assert.equal(bound.address, "127.0.0.2");
    const reply = await sendRequest(socket, "127.0.0.1", echo.port);
    assert.equal(reply.code, Reply.Succeeded);
    assert.equal(reply.address, "127.0.0.2");
    assert.equal(await echoThrough(socket, "from .2"), "from .2");
    const seen = echo.seen.at(-1)!;
    assert.equal(normalizeAddress(seen.address), "127.0.0.2");
    assert.equal(reply.port, seen.port);

    const record = await recordOf(proxy, peer);
    assert.equal(record.sourceAddress, "127.0.0.2");
    assert.equal(record.destination, `127.0.0.1:${echo.port}`);
    assert.equal(record.destinationAddress, `127.0.0.1:${echo.port}`);
    assert.equal(record.command, "connect");
    assert.equal(record.reason, "completed");
    const logged = proxy.logs.find((line) => line.fields.event === "session_end" && line.fields.peer === peer);
    assert.ok(logged, "a session_end log line");
    assert.equal(logged.fields.source_address, "127.0.0.2");
    assert.equal(logged.fields.destination, `127.0.0.1:${echo.port}`);
  });

  it("BIND [::1]:0 → 00 (22 bytes, ATYP 4); the next CONNECT leaves from ::1", async (t) => {
    if (!(await canBind("::1"))) return t.skip("::1 cannot be bound on this host");
    const echo6 = await startRecordingServer("::1");
    try {
      const socket = await connectTcp(proxy.port);
      await negotiateNoAuth(socket);
      const bound = await sendRequest(socket, "::1", 0, { command: Command.Bind });
      assert.equal(bound.code, Reply.Succeeded);
      assert.equal(bound.raw.length, 22);
      assert.equal(bound.address, "::1");
      const reply = await sendRequest(socket, "::1", echo6.port);
      assert.equal(reply.code, Reply.Succeeded);
      assert.equal(await echoThrough(socket, "v6 source"), "v6 source");
      assert.equal(echo6.seen.at(-1)!.address, "::1");
    } finally {
      await echo6.close();
    }
  });

  it("an address this host does not own (192.0.2.77) → 01, full length, then close", async () => {
    const socket = await connectTcp(proxy.port);
    const peer = peerOf(socket);
    await negotiateNoAuth(socket);
    const reply = await sendRequest(socket, "192.0.2.77", 0, { command: Command.Bind });
    await assertFailureReply(socket, reply, Reply.GeneralFailure);
    const record = await recordOf(proxy, peer);
    assert.equal(record.reason, "bind_failed:EADDRNOTAVAIL");
  });

  it("a second BIND → 01", async (t) => {
    if (!loopback2) return t.skip("127.0.0.2 cannot be bound on this host");
    const socket = await connectTcp(proxy.port);
    await negotiateNoAuth(socket);
    const first = await sendRequest(socket, "127.0.0.2", 0, { command: Command.Bind });
    assert.equal(first.code, Reply.Succeeded);
    const second = await sendRequest(socket, "127.0.0.1", 0, { command: Command.Bind });
    await assertFailureReply(socket, second, Reply.GeneralFailure);
  });

  it("BIND to a domain name → 01 (only an IP address can be a source)", async () => {
    const socket = await connectTcp(proxy.port);
    await negotiateNoAuth(socket);
    const reply = await sendRequest(socket, "localhost", 0, { command: Command.Bind });
    await assertFailureReply(socket, reply, Reply.GeneralFailure);
  });
});
