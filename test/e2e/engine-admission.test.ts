import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Socket } from "node:net";
import { serializeGreeting, serializeUserPass } from "@gatehouse-proxy/core/engine";
import type { AuthProvider } from "@gatehouse-proxy/core";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { startEchoServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import {
  delay,
  finishedWithin,
  negotiateNoAuth,
  readExactly,
  readToEnd,
  sendRequest,
} from "../helpers/socks-tunnel.js";

/** A TCP connection to the proxy from a chosen loopback address that sends nothing. */
async function silent(port: number, from: string): Promise<Socket> {
  const socket = connect({ port, host: "127.0.0.1", localAddress: from, allowHalfOpen: true });
  socket.on("error", () => undefined);
  socket.resume();
  await once(socket, "connect");
  return socket;
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

function stillOpen(socket: Socket): boolean {
  return !socket.destroyed && !socket.readableEnded;
}

async function echo(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  return (await readExactly(socket, Buffer.byteLength(text))).toString();
}

describe("max_unauthenticated_per_ip", () => {
  let echoServer: TestServer;
  before(async () => {
    echoServer = await startEchoServer();
  });
  after(() => echoServer.close());

  it("closes the oldest silent connection from that address, counts it and logs once; other addresses and tunnels are untouched", async () => {
    const proxy: TestProxy = await startProxy({ listeners: [{ name: "l", max_unauthenticated_per_ip: 3 }] });
    const opened: Socket[] = [];
    const open = async (from: string): Promise<Socket> => {
      const socket = await silent(proxy.port, from);
      opened.push(socket);
      return socket;
    };
    try {
      const [s1, s2, s3] = [await open("127.0.0.2"), await open("127.0.0.2"), await open("127.0.0.2")];
      await until(() => proxy.server.stats.activeConnections === 3, "3 sessions");
      const s4 = await open("127.0.0.2");
      await finishedWithin(s1, 3000);
      const others = [await open("127.0.0.3"), await open("127.0.0.3"), await open("127.0.0.3")];
      await until(() => proxy.server.stats.activeConnections === 6, "6 sessions");
      assert.ok([s2, s3, s4, ...others].every((socket) => stillOpen(socket)));

      // A real client from the crowded address gets through (taking the place of the oldest silent one)...
      const tunnel = await open("127.0.0.2");
      await negotiateNoAuth(tunnel);
      assert.equal((await sendRequest(tunnel, "127.0.0.1", echoServer.port)).code, 0);
      assert.equal(await echo(tunnel, "through"), "through");
      await finishedWithin(s2, 3000);
      // ...and once its tunnel is up it no longer counts: one more silent one fits, the next evicts s3.
      const s5 = await open("127.0.0.2");
      await until(() => proxy.server.stats.activeConnections === 7, "7 sessions");
      assert.ok(stillOpen(s3));
      await open("127.0.0.2");
      await finishedWithin(s3, 3000);
      assert.ok(stillOpen(s4) && stillOpen(s5));
      assert.ok(others.every(stillOpen), "another address is not affected");
      assert.equal(await echo(tunnel, "still"), "still");

      const counts = proxy.server.stats.shed.get("l");
      assert.equal(counts?.evicted.unauthenticated_per_ip, 3);
      assert.equal(counts.refused.unauthenticated_per_ip, 0);
      const notices = proxy.logs.filter((line) => line.fields.event === "unauthenticated_limit");
      assert.equal(notices.length, 1, "one line per interval, not one per connection");
      assert.equal(notices[0]!.level, "warn");
      assert.deepEqual(notices[0]!.fields.addresses, ["127.0.0.2"]);
      assert.equal(notices[0]!.fields.limit, 3);
      const evicted = proxy.logs.filter((line) => line.fields.reason === "evicted:unauthenticated_per_ip");
      assert.equal(evicted.length, 3);
      assert.ok(evicted.every((line) => line.level === "debug"));
    } finally {
      for (const socket of opened) socket.destroy();
      await proxy.close();
    }
  });

  it("a connection waiting on its auth provider is not evicted: the newcomer is refused instead", async () => {
    let release: (() => void) | undefined;
    const provider: AuthProvider = {
      name: "slow",
      authenticate: () => new Promise((resolve) => (release = () => resolve(true))),
    };
    const proxy = await startProxy({
      listeners: [{ name: "l", max_unauthenticated_per_ip: 1, require_auth: true }],
      auth: { provider, cache: false },
    });
    const sockets: Socket[] = [];
    try {
      const waiting = await silent(proxy.port, "127.0.0.4");
      sockets.push(waiting);
      waiting.pause();
      waiting.write(Buffer.concat([serializeGreeting([2]), serializeUserPass(Buffer.from("u"), Buffer.from("p"))]));
      assert.equal((await readExactly(waiting, 2)).toString("hex"), "0502");
      await until(() => release !== undefined, "the provider to be asked");

      const newcomer = connect({ port: proxy.port, host: "127.0.0.1", localAddress: "127.0.0.4" });
      newcomer.on("error", () => undefined);
      sockets.push(newcomer);
      await once(newcomer, "connect");
      newcomer.write(serializeGreeting([2]));
      assert.equal((await readToEnd(newcomer, 3000)).length, 0, "closed without a SOCKS answer");

      release!();
      assert.equal((await readExactly(waiting, 2)).toString("hex"), "0100", "the login in flight succeeds");
      assert.equal(proxy.server.stats.shed.get("l")?.refused.unauthenticated_per_ip, 1);
      assert.equal(proxy.server.stats.connectionsRefused, 1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await proxy.close();
    }
  });
});

describe("TLS listeners count a connection from its TCP accept", () => {
  it("silent connections that never start the TLS handshake are the first to make room", async () => {
    const echoServer = await startEchoServer();
    const proxy = await startProxy({ listeners: [{ name: "tls", use_tls: true, max_unauthenticated_per_ip: 2 }] });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) sockets.push(await silent(proxy.port, "127.0.0.7"));
      sockets.push(await silent(proxy.port, "127.0.0.7"));
      await finishedWithin(sockets[0]!, 3000);
      assert.ok(stillOpen(sockets[1]!) && stillOpen(sockets[2]!));
      assert.equal(proxy.server.stats.activeConnections, 0, "no session yet: they are still in the TLS handshake");

      const raw = await silent(proxy.port, "127.0.0.7");
      const secure = tlsConnect({ socket: raw, rejectUnauthorized: false });
      sockets.push(raw, secure);
      await once(secure, "secureConnect");
      await finishedWithin(sockets[1]!, 3000);
      await negotiateNoAuth(secure);
      assert.equal((await sendRequest(secure, "127.0.0.1", echoServer.port)).code, 0);
      secure.write("tls");
      assert.equal((await readExactly(secure, 3)).toString(), "tls");
      assert.equal(proxy.server.stats.shed.get("tls")?.evicted.unauthenticated_per_ip, 2);
    } finally {
      for (const socket of sockets) socket.destroy();
      await proxy.close();
      await echoServer.close();
    }
  });
});

describe("a listener's own max_connections", () => {
  it("makes room by closing the oldest silent connection; logs the episode once", async () => {
    const proxy = await startProxy({ listeners: [{ name: "l", max_connections: 2 }] });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) sockets.push(await silent(proxy.port, "127.0.0.5"));
      await until(() => proxy.server.stats.activeConnections === 2, "2 sessions");
      for (let i = 0; i < 3; i++) {
        sockets.push(await silent(proxy.port, `127.0.0.${String(6 + i)}`));
        await finishedWithin(sockets[i]!, 3000);
      }
      assert.ok(sockets.slice(3).every(stillOpen));
      assert.equal(proxy.server.stats.shed.get("l")?.evicted.max_connections, 3);
      assert.equal(proxy.server.stats.limitsReached.max_connections, 1);
      const reached = proxy.logs.filter((line) => line.fields.event === "connection_limit_reached");
      assert.equal(reached.length, 1);
      assert.equal(reached[0]!.fields.limit_name, "max_connections");
      assert.equal(proxy.logs.filter((line) => line.fields.event === "connection_limit_recovered").length, 0);
      for (const socket of sockets) socket.destroy();
      await until(
        () => proxy.logs.some((line) => line.fields.event === "connection_limit_recovered"),
        "the recovered line",
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await proxy.close();
    }
  });
});
