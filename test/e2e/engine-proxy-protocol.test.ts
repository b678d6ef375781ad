// PROXY protocol on a listener, against the real engine with byte-level clients: the header's
// client becomes the session's client (records, auth conn_meta, policy `from:`, per-IP limits),
// LOCAL health checks, and every refusal (untrusted source, malformed, truncated, oversized,
// slow, version not enabled) closes the connection without a SOCKS byte.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import type { TLSSocket } from "node:tls";
import fc from "fast-check";
import {
  ProxyHeaderError,
  parseProxyHeader,
  serializeProxyHeaderV1,
  serializeProxyHeaderV2,
} from "@gatehouse-proxy/core/engine";
import type { ListenerOptions, ProxiedEndpoint, SessionRecord } from "@gatehouse-proxy/core/engine";
import type { AuthProvider } from "@gatehouse-proxy/core";
import type { PolicyOptions } from "@gatehouse-proxy/core/policy";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { startEchoServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { CMD_CONNECT, NO_AUTH, USER_PASS, credentials, greeting, request } from "../helpers/bytes.js";
import { readExactly, readReply, readToEnd, sendRequest } from "../helpers/socks-tunnel.js";
import { ManualClock, WHEEL_RESOLUTION_MS, connectionsOpen, until } from "../helpers/simulated-time.js";

const TRUST_LOOPBACK = { trusted: ["127.0.0.1/32"] };
const BALANCER_FRONT: ProxiedEndpoint = { address: "192.0.2.1", port: 1080 };

/** A TCP connection to the proxy, from `from` (a loopback address) when given. */
async function dial(port: number, from?: string): Promise<Socket> {
  const socket = connect({
    port,
    host: "127.0.0.1",
    allowHalfOpen: true,
    noDelay: true,
    ...(from !== undefined && { localAddress: from }),
  });
  socket.on("error", () => undefined);
  await once(socket, "connect");
  return socket;
}

/** The record of the session whose peer is `peer`. */
async function recordOf(proxy: TestProxy, peer: string): Promise<SessionRecord> {
  let found: SessionRecord | undefined;
  await until(() => (found = proxy.sessions.find((record) => record.peer === peer)) !== undefined, `session ${peer}`);
  return found!;
}

/** Sends `bytes` in one write; the connection must be closed without one byte in answer. */
async function refusedSilently(port: number, bytes: Buffer, from?: string): Promise<void> {
  const socket = await dial(port, from);
  if (bytes.length > 0) socket.write(bytes);
  assert.equal((await readToEnd(socket, 5000)).length, 0, "no SOCKS byte before the connection closes");
  socket.destroy();
}

/** The header (v1 or v2) for `source`, then a no-auth greeting and a CONNECT, in ONE write; returns the reply code. */
async function pipelinedConnect(
  port: number,
  header: Buffer,
  target: number,
): Promise<{ socket: Socket; code: number }> {
  const socket = await dial(port);
  socket.write(Buffer.concat([header, greeting([NO_AUTH]), request(CMD_CONNECT, "127.0.0.1", target)]));
  const selection = await readExactly(socket, 2);
  assert.deepEqual([...selection], [5, 0]);
  const { code } = await readReply(socket);
  return { socket, code };
}

describe("PROXY protocol on a listener (engine)", () => {
  let echo: TestServer;
  const proxies: TestProxy[] = [];
  const start = async (
    listener: Partial<ListenerOptions>,
    extra: { policy?: PolicyOptions; auth?: { provider: AuthProvider; cache: false }; clock?: ManualClock } = {},
  ): Promise<TestProxy> => {
    const proxy = await startProxy({
      listeners: [{ proxy_protocol: TRUST_LOOPBACK, ...listener }],
      ...(extra.policy !== undefined && { policy: extra.policy }),
      ...(extra.auth !== undefined && { auth: extra.auth }),
      ...(extra.clock !== undefined && { clock: extra.clock }),
    });
    proxies.push(proxy);
    return proxy;
  };

  before(async () => {
    echo = await startEchoServer();
  });
  after(async () => {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await echo.close();
  });

  it("v1 TCP4, pipelined with the whole SOCKS handshake and payload: the header's client is the session's peer everywhere", async () => {
    const peers: string[] = [];
    const provider: AuthProvider = {
      name: "recording",
      authenticate(req) {
        peers.push(req.connMeta.peer_address);
        return Promise.resolve(req.password === "pw");
      },
    };
    const proxy = await start({ require_auth: true }, { auth: { provider, cache: false } });
    const client = { address: "203.0.113.7", port: 40001 };
    const socket = await dial(proxy.port);
    socket.write(
      Buffer.concat([
        serializeProxyHeaderV1(client, BALANCER_FRONT),
        greeting([USER_PASS]),
        credentials("alice", "pw"),
        request(CMD_CONNECT, "127.0.0.1", echo.port),
        Buffer.from("early bytes"),
      ]),
    );
    assert.deepEqual([...(await readExactly(socket, 4))], [5, 2, 1, 0]);
    assert.equal((await readReply(socket)).code, 0);
    assert.equal((await readExactly(socket, 11)).toString(), "early bytes");
    socket.end();
    const record = await recordOf(proxy, "203.0.113.7:40001");
    assert.equal(record.identity, "alice");
    assert.equal(record.tunnel, true);
    assert.deepEqual(peers, ["203.0.113.7:40001"], "conn_meta.peer_address");
    assert.equal(proxy.authEvents[0]?.peer, "203.0.113.7:40001");
    const authLine = proxy.logs.find((line) => line.fields.event === "auth");
    assert.equal(authLine?.fields.peer_address, "203.0.113.7:40001");
    const endLine = proxy.logs.find((line) => line.fields.event === "session_end");
    assert.equal(endLine?.fields.peer, "203.0.113.7:40001");
  });

  it("v1 TCP6 and UNKNOWN; v2 PROXY with TLVs over IPv4 and IPv6", async () => {
    const proxy = await start({});
    const cases: { header: Buffer; peer: (socket: Socket) => string }[] = [
      {
        header: serializeProxyHeaderV1({ address: "2001:db8::7", port: 1234 }, { address: "2001:db8::1", port: 1080 }),
        peer: () => "[2001:db8::7]:1234",
      },
      { header: serializeProxyHeaderV1(), peer: (socket) => `127.0.0.1:${String(socket.localPort)}` },
      {
        header: serializeProxyHeaderV2({ address: "198.51.100.20", port: 5000 }, BALANCER_FRONT, [
          { type: 0x05, value: Buffer.from("unique-id-1") },
          { type: 0x04, value: Buffer.alloc(40) },
        ]),
        peer: () => "198.51.100.20:5000",
      },
      {
        header: serializeProxyHeaderV2({ address: "2001:db8::9", port: 6000 }, { address: "2001:db8::1", port: 1080 }),
        peer: () => "[2001:db8::9]:6000",
      },
    ];
    for (const { header, peer } of cases) {
      const { socket, code } = await pipelinedConnect(proxy.port, header, echo.port);
      assert.equal(code, 0);
      const expected = peer(socket);
      socket.end();
      const record = await recordOf(proxy, expected);
      assert.equal(record.reason, "completed");
    }
  });

  it("health checks (v2 LOCAL then close, or a reset before any byte) are no failures; a handshake after LOCAL keeps the socket's peer", async () => {
    // Not in `proxies`: closed here, so that its handshake_failures summary is written.
    const proxy = await startProxy({ listeners: [{ proxy_protocol: TRUST_LOOPBACK }] });
    const check = await dial(proxy.port);
    const checkPeer = `127.0.0.1:${String(check.localPort)}`;
    check.end(serializeProxyHeaderV2(undefined, undefined));
    assert.equal((await readToEnd(check)).length, 0);
    const record = await recordOf(proxy, checkPeer);
    assert.equal(record.reason, "health_check");
    const line = proxy.logs.find((entry) => entry.fields.event === "session_end" && entry.fields.peer === checkPeer);
    assert.equal(line?.level, "debug", "a health check is not logged at info");

    // A plain TCP check (connect, then a reset before any byte, as HAProxy ends its checks) is one too.
    const probe = await dial(proxy.port);
    const probePeer = `127.0.0.1:${String(probe.localPort)}`;
    await until(() => proxy.server.stats.activeConnections === 1, "the probe accepted");
    probe.resetAndDestroy();
    assert.equal((await recordOf(proxy, probePeer)).reason, "health_check");

    const { socket, code } = await pipelinedConnect(
      proxy.port,
      serializeProxyHeaderV2(undefined, undefined),
      echo.port,
    );
    assert.equal(code, 0);
    const peer = `127.0.0.1:${String(socket.localPort)}`;
    socket.end();
    assert.equal((await recordOf(proxy, peer)).tunnel, true);
    await proxy.close();
    assert.ok(
      !proxy.logs.some((entry) => entry.fields.event === "handshake_failures"),
      "a health check is not a failed handshake",
    );
  });

  it("refuses, without a SOCKS byte, an untrusted source, a missing, malformed, truncated or oversized header and a version not enabled", async () => {
    const proxy = await start({ proxy_protocol: { versions: [2], trusted: ["127.0.0.1/32"] } });
    const good = serializeProxyHeaderV2({ address: "198.51.100.1", port: 1 }, BALANCER_FRONT);
    const oversized = Buffer.from(good);
    oversized.writeUInt16BE(600, 14);
    const cases: { bytes: Buffer; from?: string; reason: string }[] = [
      { bytes: good, from: "127.0.0.2", reason: "proxy_header:untrusted_source" },
      { bytes: Buffer.concat([greeting([NO_AUTH])]), reason: "proxy_header:missing" },
      { bytes: Buffer.from([...good.subarray(0, 12), 0x31]), reason: "proxy_header:malformed" }, // version 3
      { bytes: oversized, reason: "proxy_header:oversized" },
      {
        bytes: serializeProxyHeaderV1({ address: "198.51.100.1", port: 1 }, BALANCER_FRONT),
        reason: "proxy_header:version_not_enabled",
      },
    ];
    for (const { bytes, from, reason } of cases) {
      const before = proxy.sessions.length;
      await refusedSilently(proxy.port, bytes, from);
      await proxy.sessionsEnded(before + 1);
      assert.equal(proxy.sessions.at(-1)?.reason, reason);
    }
    // Truncated: half a header, then the client's FIN.
    const socket = await dial(proxy.port);
    socket.end(good.subarray(0, 20));
    assert.equal((await readToEnd(socket)).length, 0);
    await proxy.sessionsEnded(cases.length + 1);
    assert.equal(proxy.sessions.at(-1)?.reason, "proxy_header:truncated");
    // Each refusal is logged with its reason (at debug, one line each) and counted in the summary.
    const refusals = proxy.logs.filter(
      (line) => line.fields.event === "session_end" && String(line.fields.reason).startsWith("proxy_header:"),
    );
    assert.equal(refusals.length, 6);
  });

  it("a header that does not arrive within the step deadline: proxy_header:timeout (simulated clock)", async () => {
    const clock = new ManualClock();
    const proxy = await start({ timeout: "300ms" }, { clock });
    const socket = await dial(proxy.port);
    socket.write(Buffer.from("PROXY TCP4 198.51.100.1"));
    await connectionsOpen(proxy, 1);
    await until(() => socket.bytesWritten > 0, "bytes sent");
    clock.advance(299);
    assert.equal(proxy.sessions.length, 0, "still waiting before the deadline");
    clock.advance(1 + 2 * WHEEL_RESOLUTION_MS);
    assert.equal((await readToEnd(socket)).length, 0);
    await proxy.sessionsEnded(1);
    assert.equal(proxy.sessions[0]?.reason, "proxy_header:timeout");
  });

  it("a `from:` rule decides on the header's client", async () => {
    const proxy = await start(
      {},
      { policy: { default: "deny", rules: [{ name: "partners", action: "allow", from: ["198.51.100.0/24"] }] } },
    );
    const allowed = await pipelinedConnect(
      proxy.port,
      serializeProxyHeaderV2({ address: "198.51.100.9", port: 7000 }, BALANCER_FRONT),
      echo.port,
    );
    assert.equal(allowed.code, 0);
    allowed.socket.end();
    const denied = await pipelinedConnect(
      proxy.port,
      serializeProxyHeaderV2({ address: "203.0.113.9", port: 7001 }, BALANCER_FRONT),
      echo.port,
    );
    assert.equal(denied.code, 2, "the balancer's own address (127.0.0.1) is not what the rule sees");
    denied.socket.destroy();
    assert.equal(proxy.policyDenials[0]?.peer, "203.0.113.9:7001");
  });

  it("max_connections_per_ip counts the header's client, not the balancer", async () => {
    const proxy = await start({}, { policy: { default: "allow", max_connections_per_ip: 1 } });
    const header = (address: string, port: number): Buffer => serializeProxyHeaderV2({ address, port }, BALANCER_FRONT);
    const first = await pipelinedConnect(proxy.port, header("198.51.100.50", 1), echo.port);
    assert.equal(first.code, 0);
    const second = await pipelinedConnect(proxy.port, header("198.51.100.50", 2), echo.port);
    assert.equal(second.code, 2, "the same client's second tunnel is over its limit");
    const other = await pipelinedConnect(proxy.port, header("198.51.100.51", 3), echo.port);
    assert.equal(other.code, 0, "another client behind the same balancer has its own count");
    for (const tunnel of [first, second, other]) tunnel.socket.destroy();
  });

  it("max_unauthenticated_per_ip applies to the header's client once the header is read", async () => {
    const proxy = await start({ max_unauthenticated_per_ip: 1 });
    const waiting = async (address: string, port: number): Promise<Socket> => {
      const socket = await dial(proxy.port);
      socket.write(serializeProxyHeaderV2({ address, port }, BALANCER_FRONT));
      return socket;
    };
    const a1 = await waiting("198.51.100.60", 1);
    const b1 = await waiting("198.51.100.61", 1);
    await until(() => proxy.server.stats.activeConnections === 2, "two clients waiting behind one balancer address");
    const a2 = await waiting("198.51.100.60", 2);
    assert.equal((await readToEnd(a1)).length, 0, "the client's older silent connection made room");
    await until(() => proxy.sessions.length === 1, "one session ended");
    assert.equal(proxy.sessions[0]?.reason, "evicted:unauthenticated_per_ip");
    assert.equal(proxy.sessions[0].peer, "198.51.100.60:1");
    assert.ok(!b1.destroyed && !a2.destroyed);
    for (const socket of [a1, a2, b1]) socket.destroy();
  });

  it("the failure throttle counts the header's client: one client's bad passwords do not lock out another behind the same balancer", async () => {
    const provider: AuthProvider = {
      name: "one-password",
      authenticate: (req) => Promise.resolve(req.password === "right"),
    };
    const proxy = await startProxy({
      listeners: [{ require_auth: true, proxy_protocol: TRUST_LOOPBACK }],
      auth: { provider, cache: false, throttle: { max_failures: 3, window: "60s", block: "60s" } },
    });
    proxies.push(proxy);
    const login = async (address: string, password: string): Promise<number> => {
      const socket = await dial(proxy.port);
      socket.write(
        Buffer.concat([
          serializeProxyHeaderV2({ address, port: 1000 }, BALANCER_FRONT),
          greeting([USER_PASS]),
          credentials("alice", password),
        ]),
      );
      const answer = await readExactly(socket, 4);
      socket.destroy();
      return answer[3]!;
    };
    for (let i = 0; i < 3; i++) assert.equal(await login("203.0.113.66", "wrong"), 1);
    assert.equal(await login("203.0.113.66", "right"), 1, "the guessing client is throttled");
    assert.equal(await login("203.0.113.67", "right"), 0, "another client behind the same balancer logs in");
    const reasons = proxy.authEvents.map((event) => (event.decision.allowed ? "allowed" : event.decision.reason));
    assert.deepEqual(reasons, ["bad_credentials", "bad_credentials", "bad_credentials", "throttled", "allowed"]);
  });

  it("mutated headers followed by a greeting, 200 connections: refused without a byte, or answered as the greeting deserves; every session ends", async () => {
    const proxy = await start({});
    const valid = fc.oneof(
      fc
        .tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 }))
        .map(([address, port]) => serializeProxyHeaderV1({ address, port }, BALANCER_FRONT)),
      fc
        .tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 60 }))
        .map(([address, port, tlv]) =>
          serializeProxyHeaderV2({ address, port }, BALANCER_FRONT, [{ type: 0x04, value: tlv }]),
        ),
    );
    const mutated = fc
      .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.boolean())
      .map(([bytes, edits, cut]) => {
        const copy = Buffer.from(bytes);
        for (const [at, value] of edits) copy[at % copy.length] = value;
        return cut ? copy.subarray(0, copy.length - 1) : copy;
      });
    const cases = fc.sample(mutated, { numRuns: 200, seed: 18 });
    const greetingBytes = greeting([NO_AUTH]);
    const expectations = cases.map((header) => {
      // The engine must do what the parser says of the same bytes, header then greeting.
      try {
        const parsed = parseProxyHeader(Buffer.concat([header, greetingBytes]), [1, 2]);
        if (parsed === undefined) return "waits";
        // A header that ends elsewhere than the mutation's end takes or leaves greeting bytes.
        return parsed.length === header.length ? "greets" : "garbled";
      } catch (error) {
        assert.ok(error instanceof ProxyHeaderError);
        return "refused";
      }
    });
    const play = async (header: Buffer, expected: string): Promise<void> => {
      const socket = await dial(proxy.port);
      socket.write(Buffer.concat([header, greetingBytes]));
      if (expected === "greets") {
        assert.deepEqual([...(await readExactly(socket, 2))], [5, 0]);
        socket.destroy();
      } else if (expected === "refused") {
        assert.equal((await readToEnd(socket)).length, 0, `refused without a byte: ${header.toString("hex")}`);
      } else if (expected === "waits") {
        socket.end(); // a header still incomplete: the client's FIN ends it, without a byte
        assert.equal((await readToEnd(socket)).length, 0);
      } else {
        socket.end(); // whatever the greeting's remains deserve, the session ends
        await readToEnd(socket);
      }
    };
    for (let i = 0; i < cases.length; i += 20) {
      await Promise.all(cases.slice(i, i + 20).map((header, j) => play(header, expectations[i + j]!)));
    }
    await until(() => proxy.server.stats.activeConnections === 0, "every session ended");
    assert.equal(proxy.sessions.length, cases.length);
    const refused = expectations.filter((expected) => expected === "refused" || expected === "waits").length;
    assert.equal(proxy.sessions.filter((record) => record.reason.startsWith("proxy_header:")).length, refused);
    assert.ok(refused > 20 && refused < 180, `a mix of outcomes (${String(refused)} refused)`);
  });

  it("a reload that changes proxy_protocol replaces the listener: the new versions apply", async () => {
    const proxy = await start({ proxy_protocol: { versions: [1, 2], trusted: ["127.0.0.1"] } });
    const v1 = serializeProxyHeaderV1({ address: "198.51.100.80", port: 1 }, BALANCER_FRONT);
    const before = await pipelinedConnect(proxy.port, v1, echo.port);
    assert.equal(before.code, 0);
    before.socket.destroy();
    await proxy.server.reconfigure({
      listeners: [{ listen: "127.0.0.1:0", proxy_protocol: { versions: [2], trusted: ["127.0.0.1"] } }],
    });
    const [port] = proxy.server.addresses().map((address) => address.port);
    assert.notEqual(port, proxy.port, "a listener whose options changed is a new listener");
    const ended = proxy.sessions.length;
    await refusedSilently(port!, v1);
    await proxy.sessionsEnded(ended + 1);
    assert.equal(proxy.sessions.at(-1)?.reason, "proxy_header:version_not_enabled");
  });

  it("an IPv4-mapped peer on a dual-stack listener matches an IPv4 trusted network", async (t) => {
    let proxy: TestProxy;
    try {
      proxy = await start({ listen: "[::]:0" });
    } catch {
      return t.skip("no IPv6 on this machine");
    }
    const { socket, code } = await pipelinedConnect(
      proxy.port,
      serializeProxyHeaderV1({ address: "198.51.100.70", port: 9 }, BALANCER_FRONT),
      echo.port,
    );
    assert.equal(code, 0);
    socket.end();
    assert.equal((await recordOf(proxy, "198.51.100.70:9")).tunnel, true);
  });
});

/**
 * A TLS client behind a balancer: `header` then the TLS handshake on one TCP connection. The
 * header and the ClientHello go out in ONE write (a balancer forwards what the client sent with
 * its header), so the proxy reads TLS bytes together with the header.
 */
async function tlsBehindBalancer(port: number, header: Buffer): Promise<{ tcp: Socket; secure: TLSSocket }> {
  const tcp = await dial(port);
  let headerSent = false;
  const carrier = new Duplex({
    write(chunk: Buffer, _encoding, done) {
      tcp.write(headerSent ? chunk : Buffer.concat([header, chunk]), done);
      headerSent = true;
    },
    read() {
      tcp.resume();
    },
    final(done) {
      tcp.end(done);
    },
  });
  tcp.on("data", (chunk: Buffer) => {
    if (!carrier.push(chunk)) tcp.pause();
  });
  tcp.on("end", () => carrier.push(null));
  tcp.on("close", () => carrier.destroy());
  const secure = tlsConnect({ socket: carrier, rejectUnauthorized: false, servername: "gatehouse" });
  secure.on("error", () => undefined);
  await once(secure, "secureConnect");
  return { tcp, secure };
}

describe("PROXY protocol on a TLS listener (the header before the TLS handshake)", () => {
  let echo: TestServer;
  let proxy: TestProxy;

  before(async () => {
    echo = await startEchoServer();
    const provider: AuthProvider = {
      name: "pw",
      authenticate: (req) => Promise.resolve(req.password === "pw"),
    };
    proxy = await startProxy({
      listeners: [{ use_tls: true, require_auth: true, timeout: "2s", proxy_protocol: TRUST_LOOPBACK }],
      auth: { provider, cache: false },
    });
  });
  after(async () => {
    await proxy.close();
    await echo.close();
  });

  it("v2 header and ClientHello in one write: TLS, then SOCKS with a login, as the header's client", async () => {
    const client = { address: "203.0.113.9", port: 40009 };
    const { secure } = await tlsBehindBalancer(proxy.port, serializeProxyHeaderV2(client, BALANCER_FRONT));
    assert.equal(secure.getPeerCertificate().subject.CN, "gatehouse");
    secure.write(Buffer.concat([greeting([USER_PASS]), credentials("alice", "pw")]));
    assert.deepEqual([...(await readExactly(secure, 4))], [5, 2, 1, 0]);
    const reply = await sendRequest(secure, "127.0.0.1", echo.port);
    assert.equal(reply.code, 0);
    const received = readToEnd(secure);
    secure.end("over TLS behind a balancer");
    assert.equal((await received).toString(), "over TLS behind a balancer");
    const record = await recordOf(proxy, "203.0.113.9:40009");
    assert.equal(record.identity, "alice");
    assert.equal(record.relay, "js", "a TLS client is relayed by the JS relay");
    assert.equal(proxy.authEvents.at(-1)?.peer, "203.0.113.9:40009");
  });

  it("v1 header; a LOCAL header then a close is a health check; a LOCAL connection may go on with TLS", async () => {
    const client = { address: "198.51.100.20", port: 40020 };
    const { tcp, secure } = await tlsBehindBalancer(proxy.port, serializeProxyHeaderV1(client, BALANCER_FRONT));
    secure.write(greeting([USER_PASS]));
    assert.deepEqual([...(await readExactly(secure, 2))], [5, 2]);
    secure.destroy();
    tcp.destroy();
    assert.match((await recordOf(proxy, "198.51.100.20:40020")).reason, /^client_(closed_during_handshake|error:)/);

    const check = await dial(proxy.port);
    const checkPeer = `127.0.0.1:${String(check.localPort)}`;
    check.end(serializeProxyHeaderV2(undefined, undefined));
    assert.equal((await readToEnd(check)).length, 0);
    assert.equal((await recordOf(proxy, checkPeer)).reason, "health_check");

    const local = await tlsBehindBalancer(proxy.port, serializeProxyHeaderV2(undefined, undefined));
    local.secure.write(greeting([USER_PASS]));
    assert.deepEqual([...(await readExactly(local.secure, 2))], [5, 2], "served as the balancer's own connection");
    const peer = `127.0.0.1:${String(local.tcp.localPort)}`;
    local.secure.destroy();
    local.tcp.destroy();
    await recordOf(proxy, peer);
  });

  it("plain SOCKS after the header (no TLS) is refused without a SOCKS byte; a silent client times out", async () => {
    const plain = await dial(proxy.port);
    const plainPeer = "192.0.2.50:40050";
    plain.write(
      Buffer.concat([
        serializeProxyHeaderV2({ address: "192.0.2.50", port: 40050 }, BALANCER_FRONT),
        greeting([USER_PASS]),
        credentials("alice", "pw"),
      ]),
    );
    const answer = await readToEnd(plain);
    assert.ok(answer.length === 0 || answer[0] === 0x15, "nothing, or a TLS alert record: never a SOCKS reply");
    assert.match((await recordOf(proxy, plainPeer)).reason, /^client_error:/);

    const silent = await dial(proxy.port);
    silent.write(serializeProxyHeaderV2({ address: "192.0.2.51", port: 40051 }, BALANCER_FRONT));
    assert.equal((await readToEnd(silent, 5000)).length, 0);
    assert.equal((await recordOf(proxy, "192.0.2.51:40051")).reason, "step_timeout");
  });
});
