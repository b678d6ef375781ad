// Authorization policy end to end: the engine in-process with the static provider (real
// password records, real groups), driven by curl and by byte-level clients. (The Lua
// provider is built in parallel elsewhere; its groups go through the same session code.)
import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { Command, ConnectionLimits, FailureThrottle, serializeUserPass } from "@gatehouse-proxy/core/engine";
import type { ConnectionLimiter, LimitExceeded, LimitSlot } from "@gatehouse-proxy/core/engine";
import { hashPassword, silentLogger } from "@gatehouse-proxy/core";
import type { AuthProvider, HostResolver } from "@gatehouse-proxy/core";
import type { PolicyOptions } from "@gatehouse-proxy/core/policy";
import { StaticProvider, staticConfigSchema } from "@gatehouse-proxy/auth-static";
import { curl } from "../helpers/curl.js";
import { canBind } from "../helpers/destinations.js";
import { startDnsServer } from "../helpers/dns-server.js";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { startEchoServer, startHttpServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { ManualClock, WHEEL_RESOLUTION_MS, until } from "../helpers/simulated-time.js";
import { connectTcp, readExactly, sendRequest } from "../helpers/socks-tunnel.js";
import type { SocksReply } from "../helpers/socks-tunnel.js";

const PASSWORD = "correct horse";
const FAST = { ln: 10, r: 8, p: 1 } as const;

async function staticProvider(): Promise<AuthProvider> {
  const record = await hashPassword(PASSWORD, FAST);
  const config = staticConfigSchema.parse({
    users: {
      alice: { password: record, groups: ["premium-tier", "staff"] },
      bob: { password: record, groups: ["basic-tier"] },
      mallory: { password: record, groups: ["premium-tier"] },
      carol: { password: record },
    },
  });
  return new StaticProvider(config, { instanceName: "users", configDir: ".", logger: silentLogger }, silentLogger);
}

interface Proxied {
  readonly exitCode: number;
  readonly stdout: string;
}

/** curl through the proxy: `--socks5-hostname` (the proxy resolves) unless `clientResolves`. */
function curlVia(
  proxy: TestProxy,
  url: string,
  user?: string,
  clientResolves = false,
  port = proxy.port,
): Promise<Proxied> {
  return curl([
    clientResolves ? "--socks5" : "--socks5-hostname",
    `127.0.0.1:${String(port)}`,
    ...(user === undefined ? [] : ["--proxy-user", `${user}:${PASSWORD}`]),
    url,
  ]);
}

/** Greeting with username/password, then RFC 1929; asserts success. */
async function login(port: number, user: string): Promise<Socket> {
  const socket = await connectTcp(port);
  socket.write(Buffer.from([5, 1, 2]));
  assert.deepEqual([...(await readExactly(socket, 2))], [5, 2]);
  socket.write(serializeUserPass(Buffer.from(user), Buffer.from(PASSWORD)));
  assert.deepEqual([...(await readExactly(socket, 2))], [1, 0], `login as ${user}`);
  return socket;
}

async function connectAs(
  port: number,
  user: string,
  host: string,
  destPort: number,
): Promise<{ socket: Socket; reply: SocksReply }> {
  const socket = await login(port, user);
  return { socket, reply: await sendRequest(socket, host, destPort) };
}

async function echoes(socket: Socket, text: string): Promise<void> {
  socket.write(text);
  assert.equal((await readExactly(socket, text.length)).toString(), text);
}

const THROTTLE = {
  maxFailures: 10,
  windowMs: 60_000,
  blockMs: 60_000,
  maxTracked: 100,
  familiarMs: 60_000,
  now: Date.now,
};

/** A shared limit store whose answers wait until the test opens the gate (a slow `workers` primary). */
class GatedLimits implements ConnectionLimiter {
  readonly local = new ConnectionLimits();
  readonly waiting: (() => void)[] = [];

  private opened = false;

  tryAcquire(identity: string | undefined, ip: string, maxPerIdentity: number, maxPerIp: number) {
    return new Promise<LimitSlot | LimitExceeded>((resolve) => {
      const answer = (): void => resolve(this.local.tryAcquire(identity, ip, maxPerIdentity, maxPerIp));
      if (this.opened) answer();
      else this.waiting.push(answer);
    });
  }

  release(slot: LimitSlot): void {
    this.local.release(slot);
  }

  /** Answers the calls waiting, and every later one at once. */
  open(): void {
    this.opened = true;
    for (const answer of this.waiting.splice(0)) answer();
  }
}

function deniedEvents(proxy: TestProxy): Record<string, unknown>[] {
  return proxy.logs.filter((record) => record.fields.event === "policy_denied").map((record) => record.fields);
}

describe("policy: who may reach what", () => {
  let provider: AuthProvider;
  let http: TestServer;
  let other: TestServer;
  let echo: TestServer;
  const proxies: TestProxy[] = [];
  const start = async (
    policy: PolicyOptions | undefined,
    extra: Parameters<typeof startProxy>[0] = {},
  ): Promise<TestProxy> => {
    const proxy = await startProxy({
      listeners: [{ require_auth: true }],
      auth: { provider, cache: false },
      ...(policy !== undefined && { policy }),
      ...extra,
    });
    proxies.push(proxy);
    return proxy;
  };

  before(async () => {
    provider = await staticProvider();
    [http, other, echo] = await Promise.all([startHttpServer(), startHttpServer(), startEchoServer()]);
  });
  after(async () => {
    await Promise.all([...proxies.map((proxy) => proxy.close()), http.close(), other.close(), echo.close()]);
  });

  it("groups and identities: first match wins, the default denies the rest; one log event and hook per denial", async () => {
    const proxy = await start({
      default: "deny",
      rules: [
        { name: "no-mallory", action: "deny", identities: ["mallory"] },
        { name: "premium", action: "allow", groups: ["premium-tier"], to: [`127.0.0.1:${String(http.port)}`] },
      ],
    });
    const url = `http://127.0.0.1:${String(http.port)}/x`;
    const alice = await curlVia(proxy, url, "alice");
    assert.equal(alice.exitCode, 0);
    assert.equal(alice.stdout, "hello /x");
    assert.equal(
      (await curlVia(proxy, url, "mallory")).exitCode,
      97,
      "mallory is premium but the deny rule comes first",
    );
    assert.equal((await curlVia(proxy, url, "bob")).exitCode, 97, "bob matches no rule: default deny");
    assert.equal(
      (await curlVia(proxy, `http://127.0.0.1:${String(other.port)}/`, "alice")).exitCode,
      97,
      "port not in to:",
    );

    const events = deniedEvents(proxy);
    assert.deepEqual(
      events.map((event) => [event.identity, event.rule, event.rule_index, event.reason]),
      [
        ["mallory", "no-mallory", 0, "rule"],
        ["bob", "default", -1, "default"],
        ["alice", "default", -1, "default"],
      ],
    );
    assert.deepEqual(events[1]!.groups, ["basic-tier"]);
    assert.deepEqual(
      proxy.policyDenials.map((event) => event.rule),
      ["no-mallory", "default", "default"],
    );
    await proxy.sessionsEnded(4);
    assert.deepEqual(
      proxy.sessions.map((record) => record.reason).sort(),
      ["completed", "policy_denied:default", "policy_denied:default", "policy_denied:no-mallory"].sort(),
    );
  });

  it("default allow (KumoMTA-compatible) with one deny rule; no policy at all allows everything", async () => {
    const open = await start({ default: "allow", rules: [{ action: "deny", identities: ["mallory"] }] });
    const url = `http://127.0.0.1:${String(http.port)}/`;
    assert.equal((await curlVia(open, url, "bob")).exitCode, 0);
    assert.equal((await curlVia(open, url, "mallory")).exitCode, 97);
    assert.equal(deniedEvents(open)[0]!.rule, "policy.rules[0]", "an unnamed rule is named by its path");
    const none = await start(undefined);
    assert.equal((await curlVia(none, url, "mallory")).exitCode, 0);
    assert.equal(deniedEvents(none).length, 0);
  });

  it("a policy block without default: denies what no rule allows", async () => {
    const proxy = await start({ rules: [{ action: "allow", groups: ["staff"] }] });
    const url = `http://127.0.0.1:${String(http.port)}/`;
    assert.equal((await curlVia(proxy, url, "alice")).exitCode, 0);
    assert.equal((await curlVia(proxy, url, "carol")).exitCode, 97);
  });

  it("to: CIDR with a port range, exact host name, *.wildcard, IPv6, `*`", async (t) => {
    const dns = await startDnsServer({
      records: { "api.corp.test": { A: ["127.0.0.1"] }, "corp.test": { A: ["127.0.0.1"] } },
    });
    t.after(() => dns.close());
    const low = Math.min(http.port, other.port);
    const proxy = await start(
      {
        rules: [
          { action: "allow", identities: ["alice"], to: [`127.0.0.0/8:${String(http.port)}-${String(http.port)}`] },
          { action: "allow", identities: ["bob"], to: [`*.corp.test:${String(http.port)}`] },
          { action: "allow", identities: ["carol"], to: [`localhost:${String(other.port)}`, "[::1]"] },
          {
            action: "allow",
            identities: ["mallory"],
            to: [`*:${String(low)}-${String(Math.max(http.port, other.port))}`],
          },
        ],
      },
      { dns: { servers: [dns.address] } },
    );
    const at = (host: string, port: number): string => `http://${host}:${String(port)}/`;
    // CIDR + port range: client-resolved (ATYP IPv4) and proxy-resolved names both check the address.
    assert.equal((await curlVia(proxy, at("127.0.0.1", http.port), "alice", true)).exitCode, 0);
    assert.equal((await curlVia(proxy, at("api.corp.test", http.port), "alice")).exitCode, 0);
    assert.equal((await curlVia(proxy, at("127.0.0.1", other.port), "alice", true)).exitCode, 97);
    // *.corp.test matches a subdomain, not corp.test itself, and never an IP literal.
    assert.equal((await curlVia(proxy, at("api.corp.test", http.port), "bob")).exitCode, 0);
    assert.equal((await curlVia(proxy, at("API.Corp.Test", http.port), "bob")).exitCode, 0, "case-insensitive");
    assert.equal((await curlVia(proxy, at("corp.test", http.port), "bob")).exitCode, 97);
    assert.equal((await curlVia(proxy, at("127.0.0.1", http.port), "bob", true)).exitCode, 97);
    // An exact name matches only that name (the system resolver resolves localhost here).
    const withSystemResolver = await start({
      rules: [{ action: "allow", identities: ["carol"], to: [`localhost:${String(other.port)}`] }],
    });
    assert.equal((await curlVia(withSystemResolver, at("localhost", other.port), "carol")).exitCode, 0);
    assert.equal((await curlVia(withSystemResolver, at("127.0.0.1", other.port), "carol", true)).exitCode, 97);
    // `*` with a port range: any destination on those ports.
    assert.equal((await curlVia(proxy, at("127.0.0.1", other.port), "mallory", true)).exitCode, 0);
    // IPv6: [::1] (any port) for carol, when this host has ::1.
    if (await canBind("::1")) {
      const v6 = await startHttpServer(undefined, "::1");
      try {
        assert.equal((await curlVia(proxy, `http://[::1]:${String(v6.port)}/`, "carol", true)).exitCode, 0);
        assert.equal((await curlVia(proxy, `http://[::1]:${String(v6.port)}/`, "bob", true)).exitCode, 97);
      } finally {
        await v6.close();
      }
    }
  });

  it("hostname vs CIDR: a permitted name that resolves into a denied network is denied; one lookup, that address dialled", async () => {
    const lookups: string[] = [];
    // The first answer is loopback (denied below); a second lookup would get an allowed answer,
    // so a proxy that resolved twice would slip through.
    const resolveHost: HostResolver = (host) => {
      lookups.push(host);
      return Promise.resolve({ address: lookups.length % 2 === 1 ? "127.0.0.1" : "192.0.2.1", family: 4 });
    };
    const proxy = await start(
      {
        default: "deny",
        rules: [
          { name: "no-internal", action: "deny", to: ["127.0.0.0/8", "10.0.0.0/8"] },
          { name: "partner", action: "allow", to: ["*.partner.test"] },
        ],
      },
      { resolveHost },
    );
    const result = await curlVia(proxy, `http://www.partner.test:${String(http.port)}/`, "alice");
    assert.equal(result.exitCode, 97);
    assert.deepEqual(lookups, ["www.partner.test"]);
    const events = deniedEvents(proxy);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.rule, "no-internal");
    assert.equal(events[0]!.destination, `www.partner.test:${String(http.port)}`);

    // Allowed by address: the tunnel goes to exactly the address that was checked.
    const pinned: string[] = [];
    const allowProxy = await start(
      { rules: [{ action: "allow", to: [`127.0.0.1/32:${String(http.port)}`] }] },
      {
        resolveHost: (host) => {
          pinned.push(host);
          return Promise.resolve({ address: pinned.length === 1 ? "127.0.0.1" : "127.0.0.9", family: 4 });
        },
      },
    );
    const before = http.peers.length;
    const ok = await curlVia(allowProxy, `http://pinned.test:${String(http.port)}/p`, "bob");
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.stdout, "hello /p");
    assert.deepEqual(pinned, ["pinned.test"]);
    assert.equal(http.peers.length, before + 1);
    const [record] = await allowProxy.sessionsEnded(1);
    assert.equal(record?.destinationAddress, `127.0.0.1:${String(http.port)}`);
  });

  it("from: client networks, and a listener's own rules before the top-level ones", async () => {
    const proxy = await start(
      { default: "allow", rules: [{ name: "deny-every-client", action: "deny", from: ["0.0.0.0/0", "::/0"] }] },
      {
        listeners: [
          {
            require_auth: true,
            policy: { rules: [{ name: "loopback-staff", action: "allow", groups: ["staff"], from: ["127.0.0.0/8"] }] },
          },
          { require_auth: true },
        ],
      },
    );
    const url = `http://127.0.0.1:${String(http.port)}/`;
    const [first, second] = proxy.ports;
    assert.equal((await curlVia(proxy, url, "alice", false, first)).exitCode, 0, "listener rule: staff from loopback");
    assert.equal((await curlVia(proxy, url, "bob", false, first)).exitCode, 97, "falls through to the top-level deny");
    assert.equal(
      (await curlVia(proxy, url, "alice", false, second)).exitCode,
      97,
      "the other listener has no own rule",
    );
    assert.deepEqual(
      deniedEvents(proxy).map((event) => event.rule),
      ["deny-every-client", "deny-every-client"],
    );
    const narrow = await start({ default: "allow", rules: [{ action: "deny", from: ["10.0.0.0/8"] }] });
    assert.equal((await curlVia(narrow, url, "bob")).exitCode, 0, "127.0.0.1 is not in 10.0.0.0/8");
  });

  it("authenticated: false matches no-auth sessions only", async () => {
    const proxy = await startProxy({
      listeners: [{ require_auth: false }],
      auth: { provider, cache: false },
      policy: {
        rules: [
          { action: "allow", authenticated: false, to: [`127.0.0.1:${String(http.port)}`] },
          { action: "allow", authenticated: true },
        ],
      },
    });
    proxies.push(proxy);
    const url = (port: number): string => `http://127.0.0.1:${String(port)}/`;
    assert.equal((await curlVia(proxy, url(http.port), undefined, true)).exitCode, 0);
    assert.equal((await curlVia(proxy, url(other.port), undefined, true)).exitCode, 97);
    assert.equal((await curlVia(proxy, url(other.port), "carol", true)).exitCode, 0);
  });

  it("BIND source: allowed for a group and address, denied otherwise (02), CONNECT then leaves from it", async () => {
    const proxy = await start({
      rules: [
        { name: "premium-bind", action: "allow", groups: ["premium-tier"], command: "bind", source: ["127.0.0.1/32"] },
        { name: "no-bind", action: "deny", command: ["bind"] },
        { action: "allow", command: "connect", source: ["127.0.0.1"], to: [`127.0.0.1:${String(echo.port)}`] },
      ],
    });
    const alice = await login(proxy.port, "alice");
    const bound = await sendRequest(alice, "127.0.0.1", 0, { command: Command.Bind });
    assert.equal(bound.code, 0);
    const connected = await sendRequest(alice, "127.0.0.1", echo.port);
    assert.equal(connected.code, 0, "CONNECT after an allowed BIND (source 127.0.0.1)");
    await echoes(alice, "via the bound source");
    alice.destroy();

    const bob = await login(proxy.port, "bob");
    assert.equal((await sendRequest(bob, "127.0.0.1", 0, { command: Command.Bind })).code, 2);
    bob.destroy();
    const elsewhere = await login(proxy.port, "alice");
    assert.equal(
      (await sendRequest(elsewhere, "127.0.0.2", 0, { command: Command.Bind })).code,
      2,
      "source not allowed",
    );
    elsewhere.destroy();
    // A CONNECT without a BIND has no source: the source rule does not match, default deny.
    const direct = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    assert.equal(direct.reply.code, 2);
    direct.socket.destroy();
    assert.deepEqual(
      deniedEvents(proxy).map((event) => [event.command, event.rule]),
      [
        ["bind", "no-bind"],
        ["bind", "no-bind"],
        ["connect", "default"],
      ],
    );
  });

  it("max_connections_per_identity: the third tunnel of one identity gets 02; a slot frees when a tunnel ends", async () => {
    const proxy = await start({ default: "allow", max_connections_per_identity: 2 });
    const first = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    const second = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    assert.equal(first.reply.code, 0);
    assert.equal(second.reply.code, 0);
    const third = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    assert.equal(third.reply.code, 2);
    third.socket.destroy();
    const otherUser = await connectAs(proxy.port, "bob", "127.0.0.1", echo.port);
    assert.equal(otherUser.reply.code, 0, "another identity is not affected");
    await echoes(first.socket, "still open");
    first.socket.destroy();
    await proxy.sessionsEnded(2); // the refused one and the closed one
    const again = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    assert.equal(again.reply.code, 0);
    for (const tunnel of [second, third, otherUser, again]) tunnel.socket.destroy();
    assert.deepEqual(
      deniedEvents(proxy).map((event) => [event.identity, event.rule, event.reason]),
      [["alice", "max_connections_per_identity", "max_connections_per_identity"]],
    );
  });

  it("max_connections_per_ip: the third session from one address gets 02 whoever logs in", async () => {
    const proxy = await start({ default: "allow", max_connections_per_ip: 2 });
    const a = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    const b = await connectAs(proxy.port, "bob", "127.0.0.1", echo.port);
    const c = await connectAs(proxy.port, "carol", "127.0.0.1", echo.port);
    assert.deepEqual([a.reply.code, b.reply.code, c.reply.code], [0, 0, 2]);
    assert.equal(deniedEvents(proxy)[0]?.rule, "max_connections_per_ip");
    for (const tunnel of [a, b, c]) tunnel.socket.destroy();
  });

  it("a shared limit store that answers late: a session that ended meanwhile gives its slot back", async () => {
    const limits = new GatedLimits();
    const clock = new ManualClock();
    const proxy = await start(
      { default: "allow", max_connections_per_identity: 2 },
      {
        sharedState: { limits, throttle: new FailureThrottle(THROTTLE) },
        clock,
        listeners: [{ require_auth: true, connect_timeout: "500ms" }],
      },
    );
    const socket = await login(proxy.port, "alice");
    const request = sendRequest(socket, "127.0.0.1", echo.port);
    await until(() => limits.waiting.length === 1, "the store is asked");
    // The store has not answered by the connect deadline: the session ends (06) while it waits.
    clock.advance(500 + 2 * WHEEL_RESOLUTION_MS);
    assert.equal((await request).code, 6);
    socket.destroy();
    const [ended] = await proxy.sessionsEnded(1);
    assert.equal(ended!.reason, "connect_timeout");
    limits.open();
    await until(() => limits.local.count("identity", "alice") === 0, "the late slot is given back");
    // The store's answers reach live sessions as before.
    const tunnel = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    assert.equal(tunnel.reply.code, 0);
    assert.equal(limits.local.count("identity", "alice"), 1);
    tunnel.socket.destroy();
    await until(() => limits.local.count("identity", "alice") === 0, "the tunnel's slot is given back");
  });

  it("a shared limit store that cannot answer: 02 with limit_store_unavailable (limits fail closed)", async () => {
    const unavailable: ConnectionLimiter = {
      tryAcquire: () => Promise.resolve("limit_store_unavailable" as const),
      release: () => undefined,
    };
    const proxy = await start(
      { default: "allow", max_connections_per_identity: 2 },
      { sharedState: { limits: unavailable, throttle: new FailureThrottle(THROTTLE) } },
    );
    const refused = await connectAs(proxy.port, "alice", "127.0.0.1", echo.port);
    assert.equal(refused.reply.code, 2);
    refused.socket.destroy();
    assert.deepEqual(
      deniedEvents(proxy).map((event) => [event.rule, event.reason]),
      [["limit_store_unavailable", "limit_store_unavailable"]],
    );
  });

  it("reconfigure changes a rule for new requests without dropping an established tunnel", async () => {
    const listeners = [{ listen: "127.0.0.1:0", require_auth: true }];
    const allowBob: PolicyOptions = { rules: [{ action: "allow", identities: ["bob", "alice"] }] };
    const proxy = await start(allowBob);
    const tunnel = await connectAs(proxy.port, "bob", "127.0.0.1", echo.port);
    assert.equal(tunnel.reply.code, 0);
    await echoes(tunnel.socket, "before");
    // Same listener (port 0 stays the same listener), new rule: bob is out.
    await proxy.server.reconfigure({
      listeners,
      auth: { provider, cache: false },
      policy: { rules: [{ name: "alice-only", action: "allow", identities: ["alice"] }] },
    });
    assert.equal(proxy.server.addresses()[0]?.port, proxy.port);
    const refused = await connectAs(proxy.port, "bob", "127.0.0.1", echo.port);
    assert.equal(refused.reply.code, 2);
    refused.socket.destroy();
    await echoes(tunnel.socket, "after the reload");
    // And without a policy, everything is allowed again.
    await proxy.server.reconfigure({ listeners, auth: { provider, cache: false } });
    const back = await connectAs(proxy.port, "bob", "127.0.0.1", echo.port);
    assert.equal(back.reply.code, 0);
    back.socket.destroy();
    tunnel.socket.destroy();
  });

  it("a bad policy is refused by createProxyServer and by reconfigure, every problem with its path", async () => {
    const proxy = await start(undefined);
    await assert.rejects(
      proxy.server.reconfigure({
        listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
        policy: {
          rules: [
            { action: "allow" },
            { action: "allow", from: ["10.0.0.0/33"], to: ["bad*name"], command: "tcp" as "bind" },
          ],
        },
      }),
      (error: Error & { problems?: string[] }) => {
        assert.deepEqual(
          error.problems?.map((line) => line.split(":")[0]),
          ["policy.rules[0]", "policy.rules[1].from[0]", "policy.rules[1].to[0]", "policy.rules[1].command"],
        );
        return true;
      },
    );
    const still = await curlVia(proxy, `http://127.0.0.1:${String(http.port)}/`, "bob");
    assert.equal(still.exitCode, 0, "the old (empty) policy stays");
  });
});
