// The engine's live reconfiguration and drain: established tunnels survive a reload,
// new sessions see the new auth and listeners, and close() drains within its deadline.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { once } from "node:events";
import { SocksClient } from "socks";
import type { AuthProvider } from "@gatehouse-proxy/core";
import { startEchoServer, startTcpServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { startProxy } from "../helpers/proxy.js";
import { openTunnel, readExactly } from "../helpers/socks-tunnel.js";
import { RELAYS } from "../helpers/relays.js";

function passwordProvider(name: string, password: string): AuthProvider {
  return {
    name,
    authenticate: (request) => Promise.resolve(request.username === "alice" && request.password === password),
  };
}

async function echoes(socket: Socket, text: string): Promise<boolean> {
  socket.write(text);
  return (await readExactly(socket, Buffer.byteLength(text))).toString() === text;
}

async function authenticatedConnect(proxyPort: number, password: string, destPort: number): Promise<boolean> {
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: "127.0.0.1", port: proxyPort, type: 5, userId: "alice", password },
      command: "connect",
      destination: { host: "127.0.0.1", port: destPort },
      timeout: 3000,
    });
    socket.destroy();
    return true;
  } catch {
    return false;
  }
}

async function refusesConnections(port: number): Promise<boolean> {
  const socket = connect({ port, host: "127.0.0.1" });
  try {
    await once(socket, "connect");
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ECONNREFUSED";
  } finally {
    socket.destroy();
  }
}

describe("ProxyServer.reconfigure", () => {
  let echo: TestServer;
  before(async () => {
    echo = await startEchoServer();
  });
  after(() => echo.close());

  for (const relay of RELAYS) {
    it(`${relay} relay: keeps established tunnels, swaps auth for new sessions, opens and retires listeners`, async () => {
      const first = passwordProvider("first", "old-pw");
      const proxy = await startProxy({
        listeners: [{}],
        auth: { provider: first, cache: false, throttle: false },
        relay,
      });
      try {
        const oldPort = proxy.port;
        const tunnel = await openTunnel(oldPort, "127.0.0.1", echo.port);
        assert.equal(await authenticatedConnect(oldPort, "old-pw", echo.port), true);

        await proxy.server.reconfigure({
          listeners: [{ listen: "127.0.0.1:0" }, { listen: "127.0.0.1:0", name: "extra" }],
          auth: { provider: passwordProvider("second", "new-pw"), cache: false, throttle: false },
        });
        const [keptPort, extraPort] = proxy.server.addresses().map((address) => address.port);
        assert.equal(keptPort, oldPort, "an unchanged listener keeps its socket");
        assert.ok(extraPort !== undefined && extraPort !== oldPort);
        assert.equal(await echoes(tunnel.socket, "still here"), true, "the tunnel survived the reload");
        assert.equal(await authenticatedConnect(oldPort, "old-pw", echo.port), false, "the old password is refused");
        assert.equal(await authenticatedConnect(oldPort, "new-pw", echo.port), true);
        assert.equal(await authenticatedConnect(extraPort, "new-pw", echo.port), true, "the new listener serves");

        await proxy.server.reconfigure({
          listeners: [{ listen: "127.0.0.1:0", name: "extra" }],
          auth: { provider: passwordProvider("second", "new-pw"), cache: false, throttle: false },
        });
        assert.equal(await refusesConnections(oldPort), true, "a removed listener stops accepting");
        assert.equal(await echoes(tunnel.socket, "and still"), true, "its tunnel runs on");
        assert.equal(proxy.server.stats.retiredListeners, 1, "the removed listener waits for its tunnel");
        tunnel.socket.destroy();
        const retiredNow = (): number => proxy.server.stats.retiredListeners;
        const deadline = Date.now() + 3000;
        while (retiredNow() > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(retiredNow(), 0, "and is forgotten once its last tunnel ended");
      } finally {
        await proxy.close();
      }
    });
  }

  it("keeps one auth pipeline: the throttle outlives provider swaps and a detour through a custom Authenticator", async () => {
    const listeners = [{ listen: "127.0.0.1:0" }];
    const proxy = await startProxy({ auth: { provider: passwordProvider("first", "pw"), cache: false } });
    try {
      for (let i = 0; i < 10; i++) assert.equal(await authenticatedConnect(proxy.port, "wrong", echo.port), false);
      const throttled = (): boolean => {
        const decision = proxy.authEvents.at(-1)?.decision;
        return decision !== undefined && !decision.allowed && decision.reason === "throttled";
      };
      assert.equal(await authenticatedConnect(proxy.port, "pw", echo.port), false);
      assert.equal(throttled(), true);

      const swapped = await proxy.server.reconfigure({
        listeners,
        auth: { provider: passwordProvider("second", "pw"), cache: false },
      });
      await swapped.authSettled;
      assert.equal(await authenticatedConnect(proxy.port, "pw", echo.port), false);
      assert.equal(throttled(), true, "still throttled with the new provider");

      // A custom Authenticator bypasses the pipeline; back to a provider, the pipeline's record is there.
      await proxy.server.reconfigure({
        listeners,
        auth: { decide: () => Promise.resolve({ allowed: false, reason: "no_provider" }) },
      });
      await proxy.server.reconfigure({ listeners, auth: { provider: passwordProvider("third", "pw"), cache: false } });
      assert.equal(await authenticatedConnect(proxy.port, "pw", echo.port), false);
      assert.equal(throttled(), true, "and after a detour");
    } finally {
      await proxy.close();
    }
  });

  it("keeps the old configuration when a new listener cannot bind", async () => {
    const squatter = await startTcpServer(() => undefined);
    const proxy = await startProxy({ auth: { provider: passwordProvider("first", "pw"), cache: false } });
    try {
      await assert.rejects(
        proxy.server.reconfigure({
          listeners: [{ listen: `127.0.0.1:${String(squatter.port)}` }],
          auth: { provider: passwordProvider("second", "other"), cache: false },
        }),
        { code: "EADDRINUSE" },
      );
      assert.equal(proxy.server.addresses()[0]?.port, proxy.port);
      assert.equal(await authenticatedConnect(proxy.port, "pw", echo.port), true, "old listener and auth in force");
    } finally {
      await proxy.close();
      await squatter.close();
    }
  });

  it("rejects invalid listener options with path-accurate errors and changes nothing", async () => {
    const proxy = await startProxy();
    try {
      await assert.rejects(proxy.server.reconfigure({ listeners: [{ listen: "nowhere" }] }), /listeners\[0\]\.listen/);
      const tunnel = await openTunnel(proxy.port, "127.0.0.1", echo.port);
      tunnel.socket.destroy();
    } finally {
      await proxy.close();
    }
  });
});

describe("ProxyServer.close({drainMs})", () => {
  let echo: TestServer;
  before(async () => {
    echo = await startEchoServer();
  });
  after(() => echo.close());

  for (const relay of RELAYS) {
    it(`${relay} relay: stops accepting at once and returns as soon as the last tunnel ends`, async () => {
      const proxy = await startProxy({ relay });
      const tunnel = await openTunnel(proxy.port, "127.0.0.1", echo.port);
      const started = Date.now();
      const closing = proxy.server.close({ drainMs: 5000 });
      assert.equal(await refusesConnections(proxy.port), true);
      assert.equal(await echoes(tunnel.socket, "draining"), true, "the tunnel works while draining");
      tunnel.socket.end();
      await closing;
      assert.ok(Date.now() - started < 2000, `drain ended when the tunnel did (${String(Date.now() - started)} ms)`);
    });
  }

  for (const relay of RELAYS) {
    it(`${relay} relay: ends tunnels still open at the deadline`, async () => {
      const proxy = await startProxy({ relay });
      const tunnel = await openTunnel(proxy.port, "127.0.0.1", echo.port);
      const started = Date.now();
      await proxy.server.close({ drainMs: 400 });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 380 && elapsed < 2000, `closed after ${String(elapsed)} ms`);
      tunnel.socket.resume(); // read to EOF: the proxy ended the tunnel
      if (!tunnel.socket.readableEnded) await once(tunnel.socket, "end");
      tunnel.socket.destroy();
      const [record] = await proxy.sessionsEnded(1);
      assert.equal(record?.reason, "server_shutdown");
    });
  }
});
