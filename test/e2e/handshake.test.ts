import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { lookup } from "node:dns/promises";
import type { Socket } from "node:net";
import { SocksClient } from "socks";
import type { AuthProvider, AuthRequest } from "@gatehouse-proxy/core";
import type { SessionRecord } from "@gatehouse-proxy/core/engine";
import {
  CMD_CONNECT,
  CMD_UDP_ASSOCIATE,
  GSSAPI,
  NO_AUTH,
  USER_PASS,
  authEventsOf,
  connectClient,
  credentials,
  greeting,
  ipv6LoopbackAvailable,
  manualProvider,
  rawRequest,
  readReply,
  request,
  recordSocketWrites,
  sessionOf,
  within,
} from "../helpers/bytes.js";
import type { Conn, SocketWrite } from "../helpers/bytes.js";
import { RawClient } from "../helpers/raw-client.js";
import { startEchoServer, startTcpServer, unusedPort } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { ManualClock, WHEEL_RESOLUTION_MS, connectionsOpen } from "../helpers/simulated-time.js";

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/** 255 bytes of UTF-8 with a BOM, a NUL and multi-byte characters: must arrive byte-exact. */
const LONG_PREFIX = "\uFEFF\u0000ü€😀";
const LONG_USER = LONG_PREFIX + "a".repeat(255 - Buffer.byteLength(LONG_PREFIX));
const LONG_PASS = "🔑".repeat(63) + "xyz";

const calls: AuthRequest[] = [];
const provider: AuthProvider = {
  name: "handshake-test",
  authenticate(req) {
    calls.push(req);
    if (req.username === "user" && req.password === "pass") return Promise.resolve(true);
    // The provider decides about empty credentials, not the engine.
    if (req.username === "" && req.password === "") return Promise.resolve(true);
    if (req.username === LONG_USER && req.password === LONG_PASS) return Promise.resolve(true);
    return Promise.resolve(false);
  },
};

type HConn = Conn & { readonly callsFrom: number };

/** The provider calls made for this connection. */
function callsOf(conn: HConn): AuthRequest[] {
  return calls.slice(conn.callsFrom).filter((call) => call.connMeta.peer_address === conn.peer);
}

interface Recorder extends TestServer {
  /** Ordered events across the destination and the test's client: `dest:connect`, `dest:data`, `client:reply`. */
  readonly events: string[];
  readonly connections: Socket[];
  /** Every byte each connection received, resolved at its FIN. */
  readonly received: Promise<Buffer>[];
}

/** A destination that echoes, records every connection and what it received, in order. */
async function startRecorder(events: string[] = [], host = "127.0.0.1"): Promise<Recorder> {
  const connections: Socket[] = [];
  const received: Promise<Buffer>[] = [];
  const server = await startTcpServer((socket) => {
    events.push("dest:connect");
    connections.push(socket);
    const chunks: Buffer[] = [];
    received.push(
      new Promise((resolve) => {
        socket.on("end", () => {
          resolve(Buffer.concat(chunks));
          socket.end();
        });
      }),
    );
    socket.on("data", (chunk: Buffer) => {
      events.push("dest:data");
      chunks.push(chunk);
      socket.write(chunk);
    });
  }, host);
  return { ...server, events, connections, received };
}

/** Records `client:reply` in `events` the moment the client has received `length` bytes. */
function markWhenReceived(client: RawClient, length: number, events: string[]): void {
  let total = 0;
  const onData = (chunk: Buffer): void => {
    total += chunk.length;
    if (total >= length) {
      events.push("client:reply");
      client.socket.off("data", onData);
    }
  };
  client.socket.on("data", onData);
}

const ZERO_REPLY = (code: number): Buffer => Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);

async function connectTo(proxy: TestProxy): Promise<HConn> {
  const callsFrom = calls.length;
  return { ...(await connectClient(proxy)), callsFrom };
}

/** Reads everything until EOF, closes our side, and returns the bytes and the session record. */
async function finish(proxy: TestProxy, conn: Conn): Promise<{ rest: Buffer; record: SessionRecord }> {
  const rest = await conn.client.readToEnd();
  conn.client.destroy();
  const record = await sessionOf(proxy, conn);
  return { rest, record };
}

// ---------------------------------------------------------------------------------------

void describe("SOCKS5 handshake over real TCP", () => {
  let open: TestProxy; // require_auth: false
  let strict: TestProxy; // require_auth: true
  let echo: TestServer;
  const resolved: string[] = [];

  before(async () => {
    echo = await startEchoServer();
    open = await startProxy({
      auth: { provider },
      resolveHost: (host) => {
        resolved.push(host);
        return lookup(host, { family: 4 });
      },
    });
    strict = await startProxy({ listeners: [{ require_auth: true }], auth: { provider } });
  });
  after(async () => {
    await Promise.all([open.close(), strict.close(), echo.close()]);
  });

  void describe("method selection (KumoMTA's rules)", () => {
    void it("chooses 0x02 when offered even though auth is not required, and then runs RFC 1929", async () => {
      const conn = await connectTo(open);
      const { client } = conn;
      client.send(greeting([NO_AUTH, USER_PASS]));
      assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
      client.send(credentials("user", "pass"));
      assert.deepEqual(await client.read(2), Buffer.from([0x01, 0x00]));
      assert.equal(callsOf(conn).length, 1);
      client.destroy();
    });

    void it("chooses 0x02 when it is the only method offered on an open listener", async () => {
      const conn = await connectTo(open);
      const { client } = conn;
      client.send(greeting([USER_PASS]));
      assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
      client.destroy();
    });

    void it("chooses 0x02 over 0x00 whatever the order of the offer", async () => {
      const conn = await connectTo(open);
      const { client } = conn;
      client.send(greeting([USER_PASS, NO_AUTH]));
      assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
      client.destroy();
    });

    void it("chooses 0x00 on an open listener when only 0x00 is offered; the provider is not asked", async () => {
      const conn = await connectTo(open);
      const { client } = conn;
      client.send(Buffer.concat([greeting([NO_AUTH]), request(CMD_CONNECT, "127.0.0.1", echo.port)]));
      assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x00]));
      const reply = await readReply(client);
      assert.equal(reply.code, 0x00);
      client.send(Buffer.from("ping"));
      assert.equal((await client.read(4)).toString(), "ping");
      assert.equal(callsOf(conn).length, 0);
      client.destroy();
    });

    void it("require_auth with only 0x00 offered: 05 FF, then the proxy closes", async () => {
      const conn = await connectTo(strict);
      const { client } = conn;
      client.send(greeting([NO_AUTH]));
      const { rest, record } = await finish(strict, conn);
      assert.deepEqual(rest, Buffer.from([0x05, 0xff]));
      assert.equal(record.reason, "auth_required");
      assert.equal(callsOf(conn).length, 0);
    });

    void it("require_auth with 0x00 and 0x02 offered: 0x02", async () => {
      const conn = await connectTo(strict);
      const { client } = conn;
      client.send(greeting([NO_AUTH, USER_PASS]));
      assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
      client.destroy();
    });

    void it("never selects GSSAPI: only 0x01 offered → 05 FF and close", async () => {
      const conn = await connectTo(open);
      const { client } = conn;
      client.send(greeting([GSSAPI]));
      const { rest, record } = await finish(open, conn);
      assert.deepEqual(rest, Buffer.from([0x05, 0xff]));
      assert.equal(record.reason, "no_acceptable_method");
    });

    void it("never selects GSSAPI: 0x00 and 0x01 offered (Debian's curl) → 05 00", async () => {
      for (const methods of [
        [NO_AUTH, GSSAPI],
        [GSSAPI, NO_AUTH],
      ]) {
        const conn = await connectTo(open);
        const { client } = conn;
        client.send(greeting(methods));
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x00]), `offer ${methods.join(",")}`);
        client.destroy();
      }
    });

    void it("never selects GSSAPI under require_auth: 0x01 only → 05 FF", async () => {
      const conn = await connectTo(strict);
      const { client } = conn;
      client.send(greeting([GSSAPI]));
      const { rest } = await finish(strict, conn);
      assert.deepEqual(rest, Buffer.from([0x05, 0xff]));
    });

    void it("NMETHODS 0 → 05 FF and close (open and require_auth listeners)", async () => {
      for (const proxy of [open, strict]) {
        const conn = await connectTo(proxy);
        const { client } = conn;
        client.send(Buffer.from([0x05, 0x00]));
        const { rest, record } = await finish(proxy, conn);
        assert.deepEqual(rest, Buffer.from([0x05, 0xff]));
        assert.match(record.reason, /^(no_acceptable_method|auth_required)$/);
      }
    });

    void it("NMETHODS 255 (every method 0x00..0xFE) → 05 02", async () => {
      const all = Array.from({ length: 255 }, (_, index) => index);
      for (const proxy of [open, strict]) {
        const conn = await connectTo(proxy);
        const { client } = conn;
        const bytes = greeting(all);
        assert.equal(bytes.length, 257);
        client.send(bytes);
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
        client.send(credentials("user", "pass"));
        assert.deepEqual(await client.read(2), Buffer.from([0x01, 0x00]));
        client.destroy();
      }
    });

    void it("a wrong SOCKS version in the greeting (a SOCKS4 request) is closed without any reply", async () => {
      const conn = await connectTo(open);
      const { client } = conn;
      client.send(Buffer.from([0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0x00]));
      const { rest, record } = await finish(open, conn);
      assert.equal(rest.length, 0, `unexpected reply ${rest.toString("hex")}`);
      assert.equal(record.reason, "protocol_error:bad_version");
    });

    void it("a greeting with version 0x06 is closed without any reply too", async () => {
      const conn = await connectTo(strict);
      const { client } = conn;
      client.send(greeting([USER_PASS], 0x06));
      const { rest, record } = await finish(strict, conn);
      assert.equal(rest.length, 0);
      assert.equal(record.reason, "protocol_error:bad_version");
    });
  });

  void describe("RFC 1929 sub-negotiation", () => {
    void it("a sub-negotiation version other than 1 is closed without a status, and the provider is not asked", async () => {
      const conn = await connectTo(open);
      const { client } = conn;
      client.send(greeting([USER_PASS]));
      assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
      client.send(credentials("user", "pass", 0x05));
      const { rest, record } = await finish(open, conn);
      assert.equal(rest.length, 0, `unexpected status ${rest.toString("hex")}`);
      assert.equal(record.reason, "protocol_error:bad_auth_version");
      assert.equal(callsOf(conn).length, 0);
    });

    void it("255-byte username and password reach the provider byte-exact", async () => {
      const user = Buffer.from(LONG_USER, "utf8");
      const pass = Buffer.from(LONG_PASS, "utf8");
      assert.equal(user.length, 255);
      assert.equal(pass.length, 255);
      const conn = await connectTo(strict);
      const { client } = conn;
      client.send(Buffer.concat([greeting([USER_PASS]), credentials(user, pass)]));
      assert.deepEqual(await client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
      const [call] = callsOf(conn);
      assert.ok(call !== undefined);
      assert.deepEqual(Buffer.from(call.username, "utf8"), user);
      assert.deepEqual(Buffer.from(call.password, "utf8"), pass);
      assert.equal(call.username, LONG_USER);
      assert.equal(call.password, LONG_PASS);
      client.destroy();
    });

    void it("an empty username and password reach the provider (the provider decides)", async () => {
      const conn = await connectTo(strict);
      const { client } = conn;
      client.send(Buffer.concat([greeting([USER_PASS]), Buffer.from([0x01, 0x00, 0x00])]));
      assert.deepEqual(await client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
      const found = callsOf(conn);
      assert.equal(found.length, 1);
      assert.equal(found[0]!.username, "");
      assert.equal(found[0]!.password, "");
      client.destroy();
    });

    const invalidUtf8: [string, Buffer | string, Buffer | string][] = [
      ["overlong '/' in the username", Buffer.from([0x61, 0xc0, 0xaf]), "pass"],
      ["a lone surrogate in the username", Buffer.from([0xed, 0xa0, 0x80]), "pass"],
      ["0xFF in the password", "user", Buffer.from([0x70, 0xff])],
      ["a truncated sequence at the end of the password", "user", Buffer.from([0x70, 0xe2, 0x82])],
    ];
    for (const [label, user, pass] of invalidUtf8) {
      void it(`invalid UTF-8 (${label}) → 01 01 and close; the provider is not called`, async () => {
        const conn = await connectTo(strict);
        const { client } = conn;
        client.send(Buffer.concat([greeting([USER_PASS]), credentials(user, pass)]));
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
        const { rest, record } = await finish(strict, conn);
        assert.deepEqual(rest, Buffer.from([0x01, 0x01]));
        assert.equal(callsOf(conn).length, 0);
        assert.equal(record.reason, "auth_failed:invalid_utf8");
        assert.equal(record.identity, undefined);
      });
    }

    void it("bad credentials → exactly 01 01 then close; a pipelined CONNECT is never executed", async () => {
      const dest = await startRecorder();
      try {
        const conn = await connectTo(strict);
        const { client } = conn;
        client.send(
          Buffer.concat([
            greeting([USER_PASS]),
            credentials("user", "wrong"),
            request(CMD_CONNECT, "127.0.0.1", dest.port),
            Buffer.from("GET / HTTP/1.0\r\n\r\n"),
          ]),
        );
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
        const { rest, record } = await finish(strict, conn);
        assert.deepEqual(rest, Buffer.from([0x01, 0x01]));
        assert.equal(record.reason, "auth_failed:bad_credentials");
        assert.equal(record.command, undefined);
        assert.equal(record.destination, undefined);
        assert.equal(record.bytesClientToDest, 0);

        // Barrier: a good connection to the same destination must be the first it ever sees.
        const good = await RawClient.connect(strict.port);
        good.send(
          Buffer.concat([
            greeting([USER_PASS]),
            credentials("user", "pass"),
            request(CMD_CONNECT, "127.0.0.1", dest.port),
          ]),
        );
        assert.deepEqual(await good.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
        assert.equal((await readReply(good)).code, 0x00);
        assert.equal(dest.connections.length, 1, "the request behind bad credentials reached the destination");
        good.destroy();
      } finally {
        await dest.close();
      }
    });

    void it("the socks client: good credentials tunnel, bad credentials are refused", async () => {
      const { socket } = await SocksClient.createConnection({
        proxy: { host: "127.0.0.1", port: strict.port, type: 5, userId: "user", password: "pass" },
        command: "connect",
        destination: { host: "127.0.0.1", port: echo.port },
        timeout: 3000,
      });
      socket.write("through socks");
      const [data] = (await within(once(socket, "data"), 3000, "echo")) as [Buffer];
      assert.equal(data.toString(), "through socks");
      socket.destroy();

      await assert.rejects(
        SocksClient.createConnection({
          proxy: { host: "127.0.0.1", port: strict.port, type: 5, userId: "user", password: "nope" },
          command: "connect",
          destination: { host: "127.0.0.1", port: echo.port },
          timeout: 3000,
        }),
        /Authentication failed/,
      );
    });

    void describe("exactly one status pair, and only once the provider has decided", () => {
      let gated: TestProxy;
      const manual = manualProvider("gate");
      before(async () => {
        gated = await startProxy({
          listeners: [{ require_auth: true }],
          // Both tests send the same credentials and need the provider asked each time.
          auth: { provider: manual.provider, cache: false },
        });
      });
      after(() => gated.close());

      void it("success: nothing is written while the provider thinks, then 01 00 once, then the CONNECT reply", async () => {
        const { client } = await connectClient(gated);
        client.send(Buffer.concat([greeting([USER_PASS]), credentials("slow", "pw")]));
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
        const call = await manual.nextCall();
        assert.equal(call.request.username, "slow");
        assert.ok(await client.nothingWithin(150), `written before the decision: ${client.unread.toString("hex")}`);
        call.answer.resolve(true);
        assert.deepEqual(await client.read(2), Buffer.from([0x01, 0x00]));
        assert.ok(await client.nothingWithin(50), `more than one status: ${client.unread.toString("hex")}`);
        client.send(request(CMD_CONNECT, "127.0.0.1", echo.port));
        const reply = await readReply(client);
        assert.equal(reply.version, 0x05);
        assert.equal(reply.code, 0x00);
        client.destroy();
      });

      void it("failure: nothing is written while the provider thinks, then exactly 01 01 and EOF", async () => {
        const conn = await connectClient(gated);
        const { client } = conn;
        client.send(Buffer.concat([greeting([USER_PASS]), credentials("slow", "pw")]));
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
        const call = await manual.nextCall();
        assert.ok(await client.nothingWithin(150));
        call.answer.resolve(false);
        const { rest, record } = await finish(gated, conn);
        assert.deepEqual(rest, Buffer.from([0x01, 0x01]));
        assert.equal(record.reason, "auth_failed:bad_credentials");
        assert.equal(authEventsOf(gated, conn).length, 1);
      });
    });
  });

  void describe("pipelining and fragmentation", () => {
    void it("greeting + credentials + CONNECT + payload in ONE write: payload arrives once, after the reply", async () => {
      const events: string[] = [];
      const dest = await startRecorder(events);
      const recorder = recordSocketWrites();
      try {
        const payload = Buffer.from("early payload, sent before any reply\n");
        const conn = await connectTo(strict);
        const { client } = conn;
        const clientPort = client.socket.localPort;
        markWhenReceived(client, 2 + 2 + 10, events);
        client.send(
          Buffer.concat([
            greeting([NO_AUTH, USER_PASS]),
            credentials("user", "pass"),
            request(CMD_CONNECT, "127.0.0.1", dest.port),
            payload,
          ]),
        );
        assert.deepEqual(await client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
        const reply = await readReply(client);
        assert.equal(reply.code, 0x00);
        const outboundPort = reply.port; // checked against the destination's view below
        assert.deepEqual(await client.read(payload.length), payload); // echoed back
        assert.equal(dest.connections[0]?.remotePort, outboundPort);
        client.endWrite();
        const atDest = await within(dest.received[0]!, 3000, "the destination's FIN");
        assert.deepEqual(atDest, payload, "the destination got the payload exactly once");
        assert.equal((await client.readToEnd()).length, 0, "nothing after the echo");
        recorder.restore();

        // Arrival order, as the destination and the client saw it.
        assert.equal(events[0], "dest:connect");
        assert.ok(events.includes("client:reply"));
        assert.ok(
          events.indexOf("client:reply") < events.indexOf("dest:data"),
          `payload reached the destination before the client had the reply: ${events.join(" → ")}`,
        );
        assert.equal(dest.connections.length, 1);
        // Write order inside the engine: the success reply is written before any byte goes out.
        const toClient = (w: SocketWrite) => w.localPort === strict.port && w.remotePort === clientPort;
        const toDest = (w: SocketWrite) => w.localPort === outboundPort && w.remotePort === dest.port;
        const replyAt = recorder.writes.findIndex((w) => toClient(w) && w.bytes[0] === 0x05 && w.bytes.length >= 10);
        const firstOut = recorder.writes.findIndex(toDest);
        assert.ok(replyAt >= 0, "no success reply write seen");
        assert.ok(firstOut >= 0, "no write to the destination seen");
        assert.ok(replyAt < firstOut, "the early payload was written to the destination before the success reply");
        assert.deepEqual(Buffer.concat(recorder.writes.filter(toDest).map((w) => w.bytes)), payload);

        client.destroy();
        const record = await sessionOf(strict, conn);
        assert.equal(record.bytesClientToDest, payload.length);
        assert.equal(record.identity, "user");
      } finally {
        recorder.restore();
        await dest.close();
      }
    });

    for (const withAuth of [false, true]) {
      const label = withAuth ? "with RFC 1929 auth" : "without auth";
      void it(`a pipelined handshake (${label}) followed at once by a half-close still relays payload and answer`, async () => {
        const dest = await startRecorder();
        try {
          const payload = Buffer.from("send-then-shutdown");
          const proxy = withAuth ? strict : open;
          const conn = await connectTo(proxy);
          const { client } = conn;
          client.send(
            Buffer.concat([
              withAuth ? Buffer.concat([greeting([USER_PASS]), credentials("user", "pass")]) : greeting([NO_AUTH]),
              request(CMD_CONNECT, "127.0.0.1", dest.port),
              payload,
            ]),
          );
          client.endWrite();
          const all = await client.readToEnd();
          client.destroy();
          const record = await sessionOf(proxy, conn);
          const head = withAuth ? Buffer.from([0x05, 0x02, 0x01, 0x00]) : Buffer.from([0x05, 0x00]);
          assert.deepEqual(all.subarray(0, head.length), head, all.toString("hex"));
          assert.equal(
            all.length,
            head.length + 10 + payload.length,
            `got ${all.toString("hex")}; session ended with ${record.reason}`,
          );
          assert.deepEqual(all.subarray(head.length + 10), payload);
          assert.deepEqual(await within(dest.received[0]!, 3000, "the destination's FIN"), payload);
          assert.equal(record.reason, "completed");
        } finally {
          await dest.close();
        }
      });
    }

    void it("the same handshake one byte per segment works", async () => {
      const conn = await connectTo(strict);
      const { client } = conn;
      const handshake = Buffer.concat([
        greeting([NO_AUTH, USER_PASS]),
        credentials("user", "pass"),
        request(CMD_CONNECT, "127.0.0.1", echo.port),
        Buffer.from("slow!"),
      ]);
      await client.sendSlowly(handshake, 3);
      assert.deepEqual(await client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
      const reply = await readReply(client);
      assert.equal(reply.code, 0x00);
      assert.equal((await client.read(5)).toString(), "slow!");
      client.destroy();
      const record = await sessionOf(strict, conn);
      assert.equal(record.identity, "user");
      assert.equal(record.bytesClientToDest, 5);
    });
  });

  void describe("requests and replies", () => {
    async function afterNoAuth(bytes: Buffer): Promise<HConn> {
      const conn = await connectTo(open);
      conn.client.send(Buffer.concat([greeting([NO_AUTH]), bytes]));
      assert.deepEqual(await conn.client.read(2), Buffer.from([0x05, 0x00]));
      return conn;
    }

    void it("an unknown command (0x09) → 07 as a full 10-byte reply with ATYP 1, then close", async () => {
      const conn = await afterNoAuth(request(0x09, "127.0.0.1", echo.port));
      const { rest, record } = await finish(open, conn);
      assert.deepEqual(rest, ZERO_REPLY(0x07));
      assert.equal(record.reason, "command_not_supported");
    });

    void it("UDP ASSOCIATE (0x03) → 07, full length", async () => {
      const conn = await afterNoAuth(request(CMD_UDP_ASSOCIATE, "0.0.0.0", 0));
      const { rest, record } = await finish(open, conn);
      assert.deepEqual(rest, ZERO_REPLY(0x07));
      assert.equal(record.reason, "command_not_supported");
    });

    void it("an unknown address type (0x02) → 08, full length", async () => {
      const conn = await afterNoAuth(rawRequest(CMD_CONNECT, 0x02, [127, 0, 0, 1, 0, 80]));
      const { rest, record } = await finish(open, conn);
      assert.deepEqual(rest, ZERO_REPLY(0x08));
      assert.equal(record.reason, "address_type_not_supported");
    });

    void it("an unknown command after authentication → 07 as well", async () => {
      const conn = await connectTo(strict);
      const { client } = conn;
      client.send(
        Buffer.concat([greeting([USER_PASS]), credentials("user", "pass"), request(0x09, "127.0.0.1", echo.port)]),
      );
      assert.deepEqual(await client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
      const { rest } = await finish(strict, conn);
      assert.deepEqual(rest, ZERO_REPLY(0x07));
    });

    void it("CONNECT success: 10 bytes, ATYP 1, the outbound socket's real address and port", async () => {
      const dest = await startRecorder();
      try {
        const conn = await afterNoAuth(request(CMD_CONNECT, "127.0.0.1", dest.port));
        const { client } = conn;
        const reply = await readReply(client);
        assert.equal(reply.raw.length, 10);
        assert.equal(reply.atyp, 0x01);
        assert.equal(reply.reserved, 0x00);
        assert.equal(reply.code, 0x00);
        assert.equal(dest.connections.length, 1);
        const outbound = dest.connections[0]!;
        assert.equal(reply.address, outbound.remoteAddress);
        assert.equal(reply.port, outbound.remotePort);
        client.destroy();
      } finally {
        await dest.close();
      }
    });

    void it("CONNECT with an IP literal sent as a domain name: ATYP 1 reply, no DNS lookup", async () => {
      const before = resolved.length;
      const conn = await afterNoAuth(request(CMD_CONNECT, "127.0.0.1", echo.port, true));
      const { client } = conn;
      const reply = await readReply(client);
      assert.equal(reply.code, 0x00);
      assert.equal(reply.atyp, 0x01);
      assert.equal(reply.raw.length, 10);
      assert.equal(resolved.length, before, "an IP literal was looked up");
      client.destroy();
    });

    void it("CONNECT refused → 05, full length with ATYP 1", async () => {
      const port = await unusedPort();
      const conn = await afterNoAuth(request(CMD_CONNECT, "127.0.0.1", port));
      const { rest, record } = await finish(open, conn);
      assert.equal(rest.length, 10, rest.toString("hex"));
      assert.equal(rest[0], 0x05);
      assert.equal(rest[1], 0x05);
      assert.equal(rest[3], 0x01);
      assert.equal(record.reason, "connect_failed:ECONNREFUSED");
    });

    void it("CONNECT to an IPv6 destination: 22 bytes, ATYP 4, the real local address", async (t) => {
      if (!(await ipv6LoopbackAvailable())) return t.skip("no IPv6 loopback here");
      const dest = await startRecorder([], "::1");
      try {
        const conn = await afterNoAuth(request(CMD_CONNECT, "::1", dest.port));
        const { client } = conn;
        const reply = await readReply(client);
        assert.equal(reply.code, 0x00);
        assert.equal(reply.atyp, 0x04);
        assert.equal(reply.raw.length, 22);
        assert.equal(reply.address, "0:0:0:0:0:0:0:1");
        assert.equal(reply.port, dest.connections[0]?.remotePort);
        client.destroy();
      } finally {
        await dest.close();
      }
    });
  });

  void describe("deadlines (slowloris), in simulated time", () => {
    void it("half a greeting then silence is closed by the step deadline (timeout 300ms)", async () => {
      const clock = new ManualClock();
      const proxy = await startProxy({ listeners: [{ timeout: "300ms" }], auth: { provider }, clock });
      try {
        const conn = await connectTo(proxy);
        const { client } = conn;
        await connectionsOpen(proxy, 1);
        client.send(Buffer.from([0x05, 0x02, 0x00])); // announces two methods, sends one
        clock.advance(299);
        assert.equal(proxy.sessions.length, conn.sessionsFrom, "closed before the 300 ms step deadline");
        clock.advance(2 * WHEEL_RESOLUTION_MS);
        const rest = await client.readToEnd(3000);
        assert.equal(rest.length, 0, `a reply was sent: ${rest.toString("hex")}`);
        client.destroy();
        const record = await sessionOf(proxy, conn);
        assert.equal(record.reason, "step_timeout");
        assert.ok(
          record.durationMs >= 300 && record.durationMs <= 300 + 2 * WHEEL_RESOLUTION_MS,
          `${record.durationMs}`,
        );
      } finally {
        await proxy.close();
      }
    });

    void it("silence after the method selection (no credentials) is closed by the step deadline", async () => {
      const clock = new ManualClock();
      const proxy = await startProxy({
        listeners: [{ timeout: "300ms", require_auth: true }],
        auth: { provider },
        clock,
      });
      try {
        const conn = await connectTo(proxy);
        const { client } = conn;
        await connectionsOpen(proxy, 1);
        client.send(greeting([USER_PASS]));
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
        client.send(Buffer.from([0x01, 0x04, 0x75])); // 1 of 4 username bytes
        clock.advance(299);
        assert.equal(proxy.sessions.length, conn.sessionsFrom, "closed before the credentials' step deadline");
        clock.advance(2 * WHEEL_RESOLUTION_MS); // < 600 ms after the accept: the step's deadline, not the handshake's
        const rest = await client.readToEnd(3000);
        assert.equal(rest.length, 0);
        client.destroy();
        assert.equal((await sessionOf(proxy, conn)).reason, "step_timeout");
        assert.equal(callsOf(conn).length, 0);
      } finally {
        await proxy.close();
      }
    });

    void it("the step deadline is per step: three steps of 200 ms each under timeout 300ms succeed", async () => {
      const clock = new ManualClock();
      const proxy = await startProxy({
        listeners: [{ timeout: "300ms", handshake_timeout: "3s", require_auth: true }],
        auth: { provider },
        clock,
      });
      try {
        const conn = await connectTo(proxy);
        const { client } = conn;
        await connectionsOpen(proxy, 1);
        clock.advance(200);
        client.send(greeting([USER_PASS]));
        assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
        clock.advance(200);
        client.send(credentials("user", "pass"));
        assert.deepEqual(await client.read(2), Buffer.from([0x01, 0x00]));
        clock.advance(200);
        client.send(request(CMD_CONNECT, "127.0.0.1", echo.port));
        assert.equal((await readReply(client)).code, 0x00);
        client.destroy();
        const record = await sessionOf(proxy, conn);
        assert.equal(record.tunnel, true);
        assert.equal(record.durationMs, 600, "600 ms of simulated time: longer than one 300 ms step");
      } finally {
        await proxy.close();
      }
    });

    void it("a client trickling one byte every 200 ms is closed by the whole-handshake deadline (800ms)", async () => {
      const clock = new ManualClock();
      const proxy = await startProxy({ listeners: [{ timeout: "1s", handshake_timeout: "800ms" }], clock });
      try {
        const conn = await connectTo(proxy);
        const { client } = conn;
        await connectionsOpen(proxy, 1);
        const bytes = Buffer.concat([greeting([NO_AUTH]), request(CMD_CONNECT, "127.0.0.1", echo.port)]);
        // Three greeting bytes (answered 05 00: a new step) and one of the request, 200 ms apart.
        for (let sent = 0; sent < 4; sent++) {
          if (sent > 0) clock.advance(200);
          client.send(bytes.subarray(sent, sent + 1));
          if (sent === 2) assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x00]));
        }
        clock.advance(199); // 799 ms after the accept
        assert.equal(proxy.sessions.length, conn.sessionsFrom, "closed before the 800 ms handshake deadline");
        clock.advance(1 + 2 * WHEEL_RESOLUTION_MS);
        // Each step progressed within its 1 s; only the whole-handshake deadline can have fired.
        await client.waitClosed(3000);
        assert.deepEqual(client.unread, Buffer.alloc(0));
        client.destroy();
        assert.equal((await sessionOf(proxy, conn)).reason, "handshake_timeout");
      } finally {
        await proxy.close();
      }
    });
  });
});
