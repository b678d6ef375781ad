// UDP ASSOCIATE in the engine, in simulated time: an association ends on its idle bound (and
// not before), on a revocation, on shutdown, and with its TCP connection; a relay port range
// that is full answers 01 (logged and counted); a reloaded policy applies to the datagrams of
// live associations; a listener without `udp` still answers 07.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import type { RemoteInfo, Socket as UdpSocket } from "node:dgram";
import { once } from "node:events";
import type { Socket } from "node:net";
import { Command, Reply, parseUdpHeader, serializeUdpDatagram, serializeUserPass } from "@gatehouse-proxy/core/engine";
import type { ListenerOptions } from "@gatehouse-proxy/core/engine";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { ManualClock, WHEEL_RESOLUTION_MS, until } from "../helpers/simulated-time.js";
import { connectTcp, negotiateNoAuth, readExactly, sendRequest } from "../helpers/socks-tunnel.js";

/** A UDP echo server on 127.0.0.1. */
async function udpEcho(): Promise<{ port: number; socket: UdpSocket }> {
  const socket = createSocket("udp4");
  socket.on("message", (message: Buffer, from: RemoteInfo) => socket.send(message, from.port, from.address));
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  return { port: socket.address().port, socket };
}

interface Association {
  readonly control: Socket;
  readonly udp: UdpSocket;
  readonly relayPort: number;
  /** The proxy ended the TCP connection (FIN or reset). */
  readonly ended: boolean;
  /** Sends `text` to 127.0.0.1:`port` through the relay and resolves with the echoed payload. */
  roundTrip(port: number, text: string): Promise<string>;
  close(): void;
}

/** Logs in as `user` (any password: the test's authenticator names the user) or uses no auth. */
async function login(control: Socket, user: string | undefined): Promise<void> {
  if (user === undefined) return negotiateNoAuth(control);
  control.write(Buffer.from([5, 1, 2]));
  assert.deepEqual([...(await readExactly(control, 2))], [5, 2]);
  control.write(serializeUserPass(Buffer.from(user), Buffer.from("pw")));
  assert.deepEqual([...(await readExactly(control, 2))], [1, 0]);
}

/** UDP ASSOCIATE declaring the client's UDP port; resolves with the reply code and, on success, the association. */
async function tryAssociate(proxyPort: number, user?: string): Promise<{ code: number; association?: Association }> {
  const udp = createSocket("udp4");
  udp.bind(0, "127.0.0.1");
  await once(udp, "listening");
  const control = await connectTcp(proxyPort);
  control.on("error", () => undefined);
  await login(control, user);
  const reply = await sendRequest(control, "0.0.0.0", udp.address().port, { command: Command.UdpAssociate });
  if (reply.code !== 0) {
    control.destroy();
    udp.close();
    return { code: reply.code };
  }
  return { code: 0, association: association(control, udp, reply.address, reply.port) };
}

async function associate(proxyPort: number, user?: string): Promise<Association> {
  const { code, association } = await tryAssociate(proxyPort, user);
  assert.equal(code, 0, "UDP ASSOCIATE succeeded");
  return association!;
}

function association(control: Socket, udp: UdpSocket, relayHost: string, relayPort: number): Association {
  let ended = false;
  let closed = false;
  control.once("end", () => (ended = true));
  control.once("close", () => (ended = true));
  control.resume(); // so the proxy's FIN or close is seen
  return {
    get ended() {
      return ended;
    },
    control,
    udp,
    relayPort,
    async roundTrip(port, text) {
      udp.send(serializeUdpDatagram("127.0.0.1", port, Buffer.from(text)), relayPort, relayHost);
      const [message] = (await once(udp, "message")) as [Buffer];
      const header = parseUdpHeader(message);
      assert.ok(header.ok);
      return message.subarray(header.length).toString();
    },
    close() {
      control.destroy();
      if (!closed) udp.close();
      closed = true;
    },
  };
}

const udpListener = (udp: ListenerOptions["udp"]): Partial<ListenerOptions> => ({ udp });

describe("UDP ASSOCIATE in the engine (simulated time)", () => {
  let proxy: TestProxy | undefined;
  let echo: Awaited<ReturnType<typeof udpEcho>>;
  const open: Association[] = [];

  afterEach(async () => {
    for (const association of open.splice(0)) association.close();
    await proxy?.close();
    proxy = undefined;
  });
  before(async () => {
    echo = await udpEcho();
  });
  after(() => echo.socket.close());

  it("ends on its idle bound: not while datagrams flow, then with reason idle_timeout and its TCP connection closed", async () => {
    const clock = new ManualClock();
    proxy = await startProxy({ listeners: [udpListener({ enabled: true, idle_timeout: "30s" })], clock });
    const association = await associate(proxy.port);
    open.push(association);
    clock.advance(20_000);
    assert.equal(await association.roundTrip(echo.port, "keeps it alive"), "keeps it alive");
    // The bound is checked every 30 s against the datagram counts (never a timer per datagram):
    // the check at 30 s sees the datagram of 20 s and looks again at 60 s.
    clock.advance(20_000);
    assert.equal(proxy.server.stats.udp.activeAssociations, 1);
    assert.equal(proxy.sessions.length, 0);
    clock.advance(20_000 + 2 * WHEEL_RESOLUTION_MS);
    const [record] = await proxy.sessionsEnded(1);
    assert.deepEqual(
      {
        command: record!.command,
        reason: record!.reason,
        relay: record!.relay,
        datagrams: record!.udp?.datagramsClientToDest,
      },
      { command: "udp", reason: "idle_timeout", relay: "udp", datagrams: 1 },
    );
    await until(() => association.ended, "the TCP connection ended");
    assert.equal(proxy.server.stats.udp.activeAssociations, 0);
  });

  it("ends with its TCP connection, on a revocation and on shutdown; udpAssociations() lists the live ones", async () => {
    proxy = await startProxy({
      listeners: [udpListener({ enabled: true })],
      auth: {
        decide: (request) =>
          Promise.resolve({
            allowed: true,
            provider: "test",
            info: { identities: [{ identity: request.username, context: "ProxyAuthRfc1929" }], groups: ["staff"] },
          }),
      },
    });
    const aliceOne = await associate(proxy.port, "alice");
    const aliceTwo = await associate(proxy.port, "alice");
    const bob = await associate(proxy.port, "bob");
    const carol = await associate(proxy.port, "carol");
    open.push(aliceOne, aliceTwo, bob, carol);
    assert.equal(await bob.roundTrip(echo.port, "one"), "one");
    const listed = proxy.server.udpAssociations();
    assert.equal(listed.length, 4);
    const bobs = listed.find((info) => info.relay === `127.0.0.1:${String(bob.relayPort)}`)!;
    assert.deepEqual(
      {
        identity: bobs.identity,
        groups: bobs.groups,
        provider: bobs.provider,
        command: bobs.command,
        datagrams: bobs.datagramsClientToDest,
        bytes: bobs.bytesDestToClient,
      },
      { identity: "bob", groups: ["staff"], provider: "test", command: "udp", datagrams: 1, bytes: 3 },
    );

    assert.equal(proxy.server.revoke("alice").sessions, 2);
    const revoked = await proxy.sessionsEnded(2);
    assert.deepEqual(
      revoked.map((record) => [record.identity, record.reason]),
      [
        ["alice", "revoked"],
        ["alice", "revoked"],
      ],
    );
    await until(() => aliceOne.ended && aliceTwo.ended, "the revoked associations' TCP connections ended");
    assert.deepEqual(
      proxy.server.udpAssociations().map((info) => info.identity),
      ["bob", "carol"],
    );
    bob.control.destroy();
    assert.equal((await proxy.sessionsEnded(3))[2]!.reason, "client_closed");
    assert.equal(proxy.server.stats.udp.activeAssociations, 1);
    await proxy.close();
    assert.equal((await proxy.sessionsEnded(4))[3]!.reason, "server_shutdown");
    await until(() => carol.ended, "the TCP connection ended at shutdown");
    assert.equal(proxy.server.stats.udp.activeAssociations, 0);
  });

  it("a full relay port range answers 01, logged and counted; the port is free again once its association ends", async () => {
    const probe = createSocket("udp4");
    probe.bind(0, "127.0.0.1");
    await once(probe, "listening");
    const single = probe.address().port;
    probe.close();
    proxy = await startProxy({ listeners: [udpListener({ enabled: true, ports: String(single) })] });
    const first = await associate(proxy.port);
    open.push(first);
    assert.equal(first.relayPort, single);
    assert.equal((await tryAssociate(proxy.port)).code, Reply.GeneralFailure);
    const [refused] = await proxy.sessionsEnded(1);
    assert.equal(refused!.reason, "udp_ports_exhausted");
    assert.equal(proxy.server.stats.udp.portsExhausted, 1);
    const line = proxy.logs.find((entry) => entry.fields.event === "udp_ports_exhausted");
    assert.equal(line?.fields.ports, `${String(single)}-${String(single)}`);
    first.close();
    await proxy.sessionsEnded(2);
    await until(() => proxy!.server.stats.udp.activeAssociations === 0, "the association ended");
    const again = await associate(proxy.port);
    open.push(again);
    assert.equal(again.relayPort, single);
    assert.equal(await again.roundTrip(echo.port, "free again"), "free again");
  });

  it("a reloaded policy applies to the next datagram of a live association; a listener without udp answers 07", async () => {
    const listeners = [{ listen: "127.0.0.1:0", udp: { enabled: true } }, { listen: "127.0.0.1:0" }];
    proxy = await startProxy({ listeners, policy: { default: "allow" } });
    const association = await associate(proxy.ports[0]!);
    open.push(association);
    assert.equal(await association.roundTrip(echo.port, "allowed"), "allowed");
    await proxy.server.reconfigure({
      listeners,
      policy: {
        default: "allow",
        rules: [{ name: "no-echo", action: "deny", command: "udp", to: [`127.0.0.1:${String(echo.port)}`] }],
      },
    });
    association.udp.send(
      serializeUdpDatagram("127.0.0.1", echo.port, Buffer.from("denied")),
      association.relayPort,
      "127.0.0.1",
    );
    await until(
      () => proxy!.server.stats.udp.dropped.policy_denied === 1,
      "the datagram dropped by the reloaded policy",
    );
    assert.equal(proxy.policyDenials.at(0)?.rule, "no-echo");
    assert.equal(proxy.policyDenials.at(0)?.command, "udp");

    const control = await connectTcp(proxy.ports[1]!);
    await negotiateNoAuth(control);
    const reply = await sendRequest(control, "0.0.0.0", 0, { command: Command.UdpAssociate });
    assert.equal(reply.code, Reply.CommandNotSupported);
    control.destroy();
  });
});
