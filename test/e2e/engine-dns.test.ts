// Host name lookups through the engine (createProxyServer's `dns` option) against a DNS server
// the test runs on loopback: a name whose server never answers costs its own session only, the
// lookup is bounded by the connect timeout and dropped when the session ends, clients are capped
// by IP before authentication, and a reload changes the servers.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { Command, Reply, serializeRequest } from "@gatehouse-proxy/core/engine";
import { startDnsServer } from "../helpers/dns-server.js";
import type { TestDnsServer } from "../helpers/dns-server.js";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { peerOf, recordOf } from "../helpers/records.js";
import { startEchoServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { delay, negotiateNoAuth, readReply, readToEnd } from "../helpers/socks-tunnel.js";
import { ManualClock, WHEEL_RESOLUTION_MS, until } from "../helpers/simulated-time.js";
import type { SocksReply } from "../helpers/socks-tunnel.js";

interface Request {
  readonly socket: Socket;
  /** The reply and the milliseconds from the request to its arrival. */
  readonly reply: Promise<SocksReply>;
  readonly elapsed: Promise<number>;
}

/** A no-auth client from `localAddress` that has sent CONNECT host:port (as a domain name). */
async function requestFrom(
  proxyPort: number,
  host: string,
  port: number,
  localAddress = "127.0.0.1",
): Promise<Request> {
  const socket = connect({ host: "127.0.0.1", port: proxyPort, localAddress, allowHalfOpen: true, noDelay: true });
  await once(socket, "connect");
  await negotiateNoAuth(socket);
  const sentAt = performance.now();
  socket.write(serializeRequest(Command.Connect, host, port, true));
  const reply = readReply(socket, 15_000);
  const elapsed = reply.then(() => performance.now() - sentAt);
  elapsed.catch(() => undefined);
  return { socket, reply, elapsed };
}

/** Milliseconds from the request to its reply, and the reply. */
async function timed(request: Request): Promise<[number, SocksReply]> {
  return [await request.elapsed, await request.reply];
}

describe("DNS through the engine", () => {
  let dns: TestDnsServer;
  let echo: TestServer;
  before(async () => {
    dns = await startDnsServer({
      records: { "app.test": { A: ["127.0.0.1"] } },
      silent: Array.from({ length: 6 }, (_, index) => `never-${String(index)}.test`),
    });
    echo = await startEchoServer();
  });
  after(async () => {
    await Promise.all([dns.close(), echo.close()]);
  });

  describe("a name whose server never answers costs its own session only", () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startProxy({ dns: { servers: [dns.address], timeout: "1s", tries: 2 } });
    });
    after(async () => {
      await proxy.close();
    });

    it("six sessions wait on silent names (more than libuv's four threads); localhost and app.test answer in ms", async () => {
      const slow = await Promise.all(
        Array.from({ length: 6 }, (_, index) => requestFrom(proxy.port, `never-${String(index)}.test`, 80)),
      );
      await delay(100); // the six queries are out and unanswered
      assert.equal(dns.log.filter((entry) => entry.startsWith("never-")).length, 6);

      const [localMs, local] = await timed(await requestFrom(proxy.port, "localhost", echo.port));
      const [appMs, app] = await timed(await requestFrom(proxy.port, "app.test", echo.port));
      assert.equal(local.code, Reply.Succeeded);
      assert.equal(app.code, Reply.Succeeded);
      assert.ok(localMs < 250, `localhost took ${localMs.toFixed(0)} ms next to six stuck lookups`);
      assert.ok(appMs < 250, `app.test took ${appMs.toFixed(0)} ms next to six stuck lookups`);
      assert.equal(dns.queries("localhost"), 0, "localhost came from the hosts file");

      for (const request of slow) {
        const [ms, reply] = await timed(request);
        assert.equal(reply.code, Reply.HostUnreachable);
        assert.ok(ms >= 1900 && ms < 3000, `a silent name failed after ${ms.toFixed(0)} ms; timeout × tries = 2000`);
        const record = await recordOf(proxy, peerOf(request.socket));
        assert.equal(record.reason, "dns_failed:ETIMEOUT");
        request.socket.destroy();
      }
    });
  });

  it("the lookup is bounded by the connect timeout (reply 06) and ends with the session (simulated time)", async () => {
    const clock = new ManualClock();
    const proxy = await startProxy({
      listeners: [{ connect_timeout: "300ms" }],
      dns: { servers: [dns.address], timeout: "5s", tries: 1, max_in_flight_per_identity: 1 },
      clock,
    });
    try {
      const queriesBefore = dns.queries("never-0.test");
      const request = await requestFrom(proxy.port, "never-0.test", 80);
      // The query is out: the request was read and its connect deadline armed.
      await until(() => dns.queries("never-0.test") > queriesBefore, "the lookup's query at the DNS server");
      clock.advance(299);
      assert.equal(proxy.sessions.length, 0, "the lookup was cut before the 300 ms connect timeout");
      clock.advance(1 + 2 * WHEEL_RESOLUTION_MS);
      const reply = await request.reply;
      assert.equal(reply.code, Reply.TtlExpired);
      const peer0 = peerOf(request.socket);
      request.socket.destroy(); // or the proxy lingers for our FIN (on the simulated clock)
      assert.equal((await recordOf(proxy, peer0)).reason, "connect_timeout");

      // A shutdown ends a session whose lookup is still waiting at once (and the query with it).
      const waiting = await requestFrom(proxy.port, "never-1.test", 80, "127.0.0.3");
      const peer = peerOf(waiting.socket);
      await delay(50);
      const closedAt = performance.now();
      await proxy.close();
      const record = await recordOf(proxy, peer);
      assert.equal(record.reason, "server_shutdown");
      assert.ok(performance.now() - closedAt < 500);
      await assert.rejects(waiting.reply, "the client gets no reply, only the close");
    } finally {
      await proxy.close();
    }
  });

  it("caps lookups in flight per client IP before authentication: 01 at once for the next, other IPs unaffected", async () => {
    const proxy = await startProxy({
      dns: { servers: [dns.address], timeout: "1500ms", tries: 1, max_in_flight_per_identity: 2 },
    });
    try {
      const stuck = [
        await requestFrom(proxy.port, "never-2.test", 80, "127.0.0.4"),
        await requestFrom(proxy.port, "never-3.test", 80, "127.0.0.4"),
      ];
      await delay(50);
      const before = dns.log.length;
      const third = await requestFrom(proxy.port, "never-4.test", 80, "127.0.0.4");
      const [refusedMs, refused] = await timed(third);
      assert.equal(refused.code, Reply.GeneralFailure);
      assert.ok(refusedMs < 250, `refused after ${refusedMs.toFixed(0)} ms`);
      assert.equal(dns.log.length, before, "the refused lookup sent no query");
      const peer = peerOf(third.socket);
      third.socket.destroy();
      assert.equal((await recordOf(proxy, peer)).reason, "dns_failed:ELOOKUPLIMIT");

      const [otherMs, other] = await timed(await requestFrom(proxy.port, "app.test", echo.port, "127.0.0.5"));
      assert.equal(other.code, Reply.Succeeded);
      assert.ok(otherMs < 250);
      const local = await timed(await requestFrom(proxy.port, "localhost", echo.port, "127.0.0.4"));
      assert.equal(local[1].code, Reply.Succeeded, "a hosts-file name needs no slot");

      for (const request of stuck) assert.equal((await request.reply).code, Reply.HostUnreachable);
      const again = await timed(await requestFrom(proxy.port, "app.test", echo.port, "127.0.0.4"));
      assert.equal(again[1].code, Reply.Succeeded, "the slots came back when the lookups ended");
    } finally {
      await proxy.close();
    }
  });

  it("a reconfigure changes the servers; lookups after it ask the new one", async () => {
    const second = await startDnsServer({ records: { "moved.test": { A: ["127.0.0.1"] } } });
    const proxy = await startProxy({ dns: { servers: [dns.address] } });
    try {
      const first = await requestFrom(proxy.port, "moved.test", echo.port);
      assert.equal((await first.reply).code, Reply.HostUnreachable);
      first.socket.destroy();
      await proxy.server.reconfigure({
        listeners: [{ listen: "127.0.0.1:0" }], // as started: the listener stays
        dns: { servers: [second.address] },
      });
      const moved = await requestFrom(proxy.port, "moved.test", echo.port);
      assert.equal((await moved.reply).code, Reply.Succeeded);
      moved.socket.end();
      await readToEnd(moved.socket);
      assert.equal(second.queries("moved.test", "A"), 1);
      assert.equal(dns.queries("moved.test", "A"), 1, "the old server was asked only before the reload");
    } finally {
      await proxy.close();
      await second.close();
    }
  });
});
