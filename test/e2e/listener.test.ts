// Listeners end to end: IPv6, several per server, max_connections, TLS (generated and from
// PEM files), option validation, and surviving accept() failures (EMFILE in a child process).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { connect as tlsConnect } from "node:tls";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { SocksClient } from "socks";
import {
  ListenerConfigError,
  createProxyServer,
  serializeGreeting,
  serializeUserPass,
} from "@gatehouse-proxy/core/engine";
import type { AuthProvider } from "@gatehouse-proxy/core";
import type { ListenerOptions } from "@gatehouse-proxy/core/engine";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { canBind, startRecordingServer } from "../helpers/destinations.js";
import type { RecordingServer } from "../helpers/destinations.js";
import { startChildProxy } from "../helpers/child-proxy.js";
import { RELAYS } from "../helpers/relays.js";
import {
  delay,
  finishedWithin,
  negotiateNoAuth,
  openTunnel,
  readExactly,
  readToEnd,
  sendRequest,
  socksConnect,
} from "../helpers/socks-tunnel.js";
import { peerOf, recordOf } from "../helpers/records.js";

const allowAll: AuthProvider = { name: "allow-all", authenticate: () => Promise.resolve(true) };

/** Echo round trip through an established tunnel (any duplex: TCP or TLS); ends our side. */
async function echoThrough(socket: Socket, text: string): Promise<string> {
  const received = readToEnd(socket);
  socket.end(text);
  return (await received).toString();
}

/** Opens a tunnel and checks that it echoes, leaving it open. */
async function liveTunnel(port: number, echoPort: number): Promise<Socket> {
  const { socket } = await openTunnel(port, "127.0.0.1", echoPort);
  socket.write("ping");
  assert.equal((await readExactly(socket, 4)).toString(), "ping");
  return socket;
}

/** Closes the proxy but gives up after `ms` (returns false): a test must never hang on close(). */
async function closeWithin(proxy: TestProxy, ms: number): Promise<boolean> {
  return Promise.race([proxy.close().then(() => true), delay(ms).then(() => false)]);
}

/** Expects a ListenerConfigError from an invalid configuration; returns its problems. */
function configProblems(listeners: readonly unknown[]): readonly string[] {
  try {
    createProxyServer({ listeners: listeners as ListenerOptions[] });
  } catch (error) {
    assert.ok(error instanceof ListenerConfigError, `expected ListenerConfigError, got ${String(error)}`);
    assert.equal(error.message, error.problems.join("; "));
    return error.problems;
  }
  assert.fail("createProxyServer accepted an invalid configuration");
}

describe("listeners", () => {
  let echo: RecordingServer;
  let ipv6 = false;
  before(async () => {
    ipv6 = await canBind("::1");
    echo = await startRecordingServer("127.0.0.1");
  });
  after(async () => {
    await echo.close();
  });

  it("an IPv6 listener ([::1]:0) serves the socks client", async (t) => {
    if (!ipv6) return t.skip("::1 cannot be bound on this host");
    const proxy = await startProxy({ listeners: [{ listen: "[::1]:0" }] });
    try {
      assert.equal(proxy.server.addresses()[0]!.address, "::1");
      const { socket } = await SocksClient.createConnection({
        proxy: { host: "::1", port: proxy.port, type: 5 },
        command: "connect",
        destination: { host: "127.0.0.1", port: echo.port },
        timeout: 5000,
      });
      const peer = peerOf(socket);
      assert.match(peer, /^\[::1\]:\d+$/);
      assert.equal(await echoThrough(socket, "over v6"), "over v6");
      const record = await recordOf(proxy, peer);
      assert.equal(record.listener, "[::1]:0");
      assert.equal(record.reason, "completed");
    } finally {
      await proxy.close();
    }
  });

  it("several listeners on one server, each with its own options", async () => {
    const listeners: Partial<ListenerOptions>[] = [
      { listen: "127.0.0.1:0", name: "open" },
      { listen: "127.0.0.1:0", name: "authed", require_auth: true },
    ];
    if (ipv6) listeners.push({ listen: "[::1]:0", name: "v6" });
    const proxy = await startProxy({ listeners, auth: { provider: allowAll } });
    try {
      assert.equal(proxy.ports.length, listeners.length);
      assert.equal(new Set(proxy.ports).size, proxy.ports.length, "distinct ports");
      // open: no auth needed
      const open = await openTunnel(proxy.ports[0]!, "127.0.0.1", echo.port);
      const openPeer = peerOf(open.socket);
      assert.equal(await echoThrough(open.socket, "one"), "one");
      // authed: 05 FF without credentials, then success with them
      const refused = connect({ port: proxy.ports[1]!, host: "127.0.0.1" });
      await once(refused, "connect");
      refused.write(serializeGreeting([0]));
      assert.equal((await readToEnd(refused)).toString("hex"), "05ff");
      const authed = connect({ port: proxy.ports[1]!, host: "127.0.0.1", allowHalfOpen: true });
      await once(authed, "connect");
      const authedPeer = peerOf(authed);
      authed.write(Buffer.concat([serializeGreeting([2]), serializeUserPass(Buffer.from("u"), Buffer.from("p"))]));
      assert.equal((await readExactly(authed, 4)).toString("hex"), "05020100");
      assert.equal((await sendRequest(authed, "127.0.0.1", echo.port)).code, 0);
      assert.equal(await echoThrough(authed, "two"), "two");
      assert.equal((await recordOf(proxy, openPeer)).listener, "open");
      assert.equal((await recordOf(proxy, authedPeer)).listener, "authed");
      if (ipv6) {
        const v6 = await openTunnel(proxy.ports[2]!, "127.0.0.1", echo.port, { proxyHost: "::1" });
        const v6Peer = peerOf(v6.socket);
        assert.equal(await echoThrough(v6.socket, "three"), "three");
        assert.equal((await recordOf(proxy, v6Peer)).listener, "v6");
      }
    } finally {
      await proxy.close();
    }
  });

  it("max_connections: beyond it new connections are refused; existing ones work; then room again", async () => {
    const proxy = await startProxy({ listeners: [{ max_connections: 2 }] });
    try {
      const first = await liveTunnel(proxy.port, echo.port);
      const second = await liveTunnel(proxy.port, echo.port);
      const firstPeer = peerOf(first);

      // A third connection is closed at once, without any SOCKS answer.
      const third = connect({ port: proxy.port, host: "127.0.0.1" });
      third.on("error", () => undefined);
      const thirdBytes: Buffer[] = [];
      third.on("data", (chunk: Buffer) => thirdBytes.push(chunk));
      await once(third, "connect");
      third.write(serializeGreeting([0]));
      assert.ok((await finishedWithin(third, 2000)) < 1000);
      assert.equal(Buffer.concat(thirdBytes).length, 0, "no method selection beyond the limit");
      assert.ok(proxy.server.stats.connectionsRefused >= 1);

      // The two admitted tunnels still work.
      second.write("still");
      assert.equal((await readExactly(second, 5)).toString(), "still");

      // After one closes there is room again.
      assert.equal(await echoThrough(first, "bye"), "bye");
      await recordOf(proxy, firstPeer);
      let fresh: Socket | undefined;
      for (let attempt = 0; attempt < 20 && fresh === undefined; attempt++) {
        fresh = await liveTunnel(proxy.port, echo.port).catch(() => undefined);
        if (fresh === undefined) await delay(50);
      }
      assert.ok(fresh, "a new connection is admitted once one has closed");
      assert.equal(await echoThrough(fresh, "again"), "again");
      assert.equal(await echoThrough(second, "done"), "done");
    } finally {
      await proxy.close();
    }
  });
});

describe("use_tls", () => {
  let echo: RecordingServer;
  let dir: string;
  before(async () => {
    echo = await startRecordingServer("127.0.0.1");
    dir = await mkdtemp(join(tmpdir(), "gatehouse-tls-"));
  });
  after(async () => {
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function tlsClient(port: number, options: ConnectionOptions): Promise<TLSSocket> {
    const socket = tlsConnect({ host: "127.0.0.1", port, ...options });
    await once(socket, "secureConnect");
    return socket;
  }

  /** SOCKS handshake and an echo round trip over a TLS connection (then the client half-closes). */
  async function socksOverTls(socket: TLSSocket): Promise<void> {
    await negotiateNoAuth(socket);
    const reply = await sendRequest(socket, "127.0.0.1", echo.port);
    assert.equal(reply.code, 0);
    assert.equal(reply.port, echo.seen.at(-1)!.port);
    const received = readToEnd(socket);
    socket.end("through TLS");
    assert.equal((await received).toString(), "through TLS");
  }

  it("without certificate files: a generated self-signed certificate", async () => {
    const proxy = await startProxy({ listeners: [{ use_tls: true }] });
    try {
      const socket = await tlsClient(proxy.port, { rejectUnauthorized: false });
      const certificate = socket.getPeerCertificate();
      assert.equal(certificate.subject.CN, "gatehouse");
      assert.match(certificate.subjectaltname ?? "", /IP Address:127\.0\.0\.1/);
      await socksOverTls(socket);
      assert.ok(proxy.logs.some((line) => line.level === "warn" && /self-signed/.test(line.message ?? "")));
    } finally {
      await closeWithin(proxy, 3000);
    }
  });

  it("with tls_certificate / tls_private_key PEM files (verified against the file as CA)", async () => {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    await promisify(execFile)("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ]);
    const pem = await readFile(cert, "utf8");
    const proxy = await startProxy({ listeners: [{ use_tls: true, tls_certificate: cert, tls_private_key: key }] });
    try {
      const socket = await tlsClient(proxy.port, { ca: pem });
      assert.ok(socket.authorized, String(socket.authorizationError));
      assert.equal(socket.getPeerCertificate().fingerprint256, new X509Certificate(pem).fingerprint256);
      await socksOverTls(socket);
    } finally {
      await closeWithin(proxy, 3000);
    }
  });

  it("a plaintext SOCKS client on a TLS listener gets no SOCKS answer and the listener keeps serving", async () => {
    const proxy = await startProxy({ listeners: [{ use_tls: true, timeout: "1s" }] });
    try {
      const plain = connect({ port: proxy.port, host: "127.0.0.1" });
      plain.on("error", () => undefined);
      const bytes: Buffer[] = [];
      plain.on("data", (chunk: Buffer) => bytes.push(chunk));
      await once(plain, "connect");
      // Three bytes: not even a TLS record header, so only the handshake deadline (1 s) can end it.
      plain.write(serializeGreeting([0]));
      const elapsed = await finishedWithin(plain, 3000).catch(() => Infinity);
      assert.ok(elapsed < 3000, "the plaintext client was not closed by the handshake deadline (1 s)");
      assert.notEqual(Buffer.concat(bytes).subarray(0, 2).toString("hex"), "0500", "no SOCKS answer in plaintext");
      await socksOverTls(await tlsClient(proxy.port, { rejectUnauthorized: false }));
    } finally {
      await closeWithin(proxy, 3000);
    }
  });

  it("clients that abandon the TLS handshake are released (max_connections slots, close())", async () => {
    // Handshake deadline 1 s. Two clients take both slots and never finish a handshake: one
    // rejects the self-signed certificate, one is a TCP probe that connects and closes.
    const proxy = await startProxy({ listeners: [{ use_tls: true, timeout: "1s", max_connections: 2 }] });
    try {
      const verifying = tlsConnect({ host: "127.0.0.1", port: proxy.port });
      const [error] = (await once(verifying, "error")) as [NodeJS.ErrnoException];
      assert.match(String(error.code), /SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/, "a verifying client refuses it");
      const probe = connect({ port: proxy.port, host: "127.0.0.1" });
      probe.on("error", () => undefined);
      await once(probe, "connect");
      probe.end();
      await delay(100);
      probe.destroy();
      // Well past the handshake deadline both slots must be free again.
      await delay(2000);
      const socket = await Promise.race([
        tlsClient(proxy.port, { rejectUnauthorized: false }),
        delay(2000).then(() => undefined),
      ]).catch((cause: unknown) => {
        throw new Error(`refused after abandoned handshakes: ${String(cause)}`);
      });
      assert.ok(socket, "no TLS handshake within 2 s");
      await socksOverTls(socket);
      // Nothing is left for close() to wait for.
      assert.ok(
        await closeWithin(proxy, 3000),
        "close() did not finish: a connection outside any session kept it open",
      );
    } finally {
      await closeWithin(proxy, 3000);
    }
  });

  it("an unreadable certificate file fails start() naming the option and the path", async () => {
    const missing = join(dir, "missing.pem");
    const server = createProxyServer({
      listeners: [{ listen: "127.0.0.1:0", use_tls: true, tls_certificate: missing, tls_private_key: missing }],
    });
    await assert.rejects(server.start(), (error: Error) => {
      assert.match(error.message, /tls_(certificate|private_key): cannot read .*missing\.pem: ENOENT/);
      return true;
    });
    await server.close();
  });
});

describe("listener option validation (ListenerConfigError)", () => {
  it("a malformed listen address names listeners[0].listen", () => {
    const problems = configProblems([{ listen: "localhost" }]);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^listeners\[0\]\.listen: /);
  });

  it("several problems in one listener are reported together", () => {
    const problems = configProblems([
      { listen: "127.0.0.1:0" },
      {
        listen: "127.0.0.1:70000",
        bogus: true,
        timeout: "5 parsecs",
        connect_timeout: 0,
        max_connections: -1,
        use_tls: "yes",
      },
    ]);
    const expected = [
      /^listeners\[1\]\.bogus: unknown key$/,
      /^listeners\[1\]\.listen: /,
      /^listeners\[1\]\.timeout: .*"5 parsecs"/,
      /^listeners\[1\]\.connect_timeout: must be greater than zero$/,
      /^listeners\[1\]\.max_connections: /,
      /^listeners\[1\]\.use_tls: expected true or false$/,
    ];
    for (const pattern of expected) {
      assert.ok(
        problems.some((problem) => pattern.test(problem)),
        `${String(pattern)} in ${JSON.stringify(problems)}`,
      );
    }
    assert.equal(problems.length, expected.length);
  });

  it("problems in different listeners are reported together", () => {
    const problems = configProblems([
      { listen: "[::1]" },
      { listen: "127.0.0.1:0", idle_timeout: "soon", tcp_keepalive: "often" },
      { listen: "127.0.0.1:0", tls_certificate: "/x.pem" },
    ]);
    assert.ok(problems.some((p) => p.startsWith("listeners[0].listen: ")));
    assert.ok(problems.some((p) => p.startsWith("listeners[1].idle_timeout: ")));
    assert.ok(problems.some((p) => p.startsWith("listeners[1].tcp_keepalive: ")));
    assert.ok(problems.some((p) => p.startsWith("listeners[2]") && p.includes("use_tls")));
  });

  it("no listener at all", () => {
    assert.deepEqual(configProblems([]), ["listeners: at least one listener is required"]);
  });
});

describe("accept() errors (EMFILE) do not kill the listener", () => {
  const hasPrlimit = spawnSync("prlimit", ["--version"]).status === 0;
  const FD_LIMIT = 40;

  for (const relay of RELAYS) {
    it(`${relay} relay: under a low fd limit: excess connections are shed, dials fail with 01, and it serves again`, async () => {
      assert.ok(hasPrlimit, "prlimit (util-linux) is not installed: see scripts/test-tiers/preflight.js");
      const echo = await startRecordingServer("127.0.0.1");
      // The limit is lowered once the proxy runs: loading @gatehouse-proxy/core (zod opens ~50 locale
      // files at once) needs more descriptors than the limit under test.
      const proxy = await startChildProxy({ relay });
      // One tunnel first, so the splice relay's thread (its epoll and eventfd) exists before the limit.
      const first = await openTunnel(proxy.port, "127.0.0.1", echo.port);
      assert.equal(await echoThrough(first.socket, "first"), "first");
      first.socket.destroy();
      const limited = spawnSync("prlimit", ["--pid", String(proxy.pid), `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
      assert.equal(limited.status, 0, limited.stderr.toString());
      const held: Socket[] = [];
      try {
        // A burst of more connections than the proxy has descriptors.
        const burst = Array.from({ length: FD_LIMIT + 10 }, () => {
          const socket = connect({ port: proxy.port, host: "127.0.0.1" });
          socket.on("error", () => undefined);
          return socket;
        });
        await delay(400);
        const shed = burst.filter((socket) => socket.destroyed || socket.readableEnded);
        held.push(...burst.filter((socket) => !shed.includes(socket)));
        for (const socket of shed) socket.destroy();
        assert.ok(shed.length > 0, "some connections were beyond the limit");
        assert.ok(held.length > 0 && held.length < FD_LIMIT);
        assert.ok(proxy.fdCount() >= FD_LIMIT - 1, `proxy at its limit (${proxy.fdCount()} fds)`);

        // With exactly one descriptor free, the client is accepted but the dial cannot get a socket.
        const fdsBefore = proxy.fdCount();
        held.pop()!.destroy();
        for (let i = 0; i < 40 && proxy.fdCount() >= fdsBefore; i++) await delay(25);
        const starved = await socksConnect(proxy.port, "127.0.0.1", echo.port);
        starved.socket.destroy();
        assert.equal(starved.reply.code, 1, "a dial that hits EMFILE is answered 01");
        assert.equal(starved.reply.raw.length, 10);
        await proxy.waitForLog((line) => line.event === "session_end" && line.reason === "connect_failed:EMFILE");
        // libuv sheds accepts that hit EMFILE without telling Node; the dial is where it shows.
        await proxy.waitForLog((line) => line.event === "resource_exhausted" && line.code === "EMFILE");

        if (relay === "splice") {
          // Two descriptors free: the client and the dial get one each, none is left to hand the
          // tunnel to the splice relay (it duplicates both): the JS relay carries it instead.
          const fdsNow = proxy.fdCount();
          held.pop()!.destroy();
          held.pop()!.destroy();
          for (let i = 0; i < 40 && proxy.fdCount() > fdsNow - 2; i++) await delay(25);
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", echo.port);
          const peer = peerOf(socket);
          assert.equal(await echoThrough(socket, "on the JS relay"), "on the JS relay");
          socket.end();
          const ended = await proxy.waitForLog((line) => line.event === "session_end" && line.peer === peer);
          assert.equal(ended.relay, "js", "the tunnel fell back to the JS relay");
          assert.equal(ended.reason, "completed");
        }

        // Release everything: the listener is still there and serves full tunnels.
        for (const socket of held.splice(0)) socket.destroy();
        for (let i = 0; i < 40 && proxy.fdCount() > 25; i++) await delay(25);
        for (let i = 0; i < 3; i++) {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", echo.port);
          const peer = peerOf(socket);
          assert.equal(await echoThrough(socket, `alive ${i}`), `alive ${i}`);
          socket.end();
          const ended = await proxy.waitForLog((line) => line.event === "session_end" && line.peer === peer);
          assert.equal(ended.relay, relay);
        }
        assert.equal(proxy.logs.filter((line) => line.event === "listening").length, 1);
      } finally {
        for (const socket of held) socket.destroy();
        await Promise.all([proxy.stop(), echo.close()]);
      }
    });
  }
});
