import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { SocksClient } from "socks";
import type { AuthProvider, AuthRequest, AuthResult, ConnMeta, IdentityContext } from "@gatehouse-proxy/core";
import {
  CMD_CONNECT,
  NO_AUTH,
  USER_PASS,
  allStrings,
  authEventsOf,
  connectClient,
  credentials,
  deferred,
  flushEventLoop,
  greeting,
  ipv6LoopbackAvailable,
  manualProvider,
  readReply,
  request,
  sessionOf,
  within,
} from "../helpers/bytes.js";
import type { Conn } from "../helpers/bytes.js";
import { startEchoServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";

// ---------------------------------------------------------------------------------------
// A provider whose behaviour each test sets, behind one proxy with a 200 ms auth deadline.
// ---------------------------------------------------------------------------------------

type Behaviour = (request: AuthRequest, signal: AbortSignal) => unknown;

let behaviour: Behaviour = () => Promise.resolve(false);
const seen: { request: AuthRequest; signal: AbortSignal }[] = [];

const switchable: AuthProvider = {
  name: "contract",
  authenticate(req, signal) {
    seen.push({ request: req, signal });
    // Whatever the behaviour returns or throws goes to the engine unchanged (JS/Lua providers have no types).
    return behaviour(req, signal) as Promise<AuthResult>;
  },
};

const OK_IDENTITY = { identity: "alice", context: "ProxyAuthRfc1929" };

interface Attempt {
  readonly conn: Conn;
  readonly status: Buffer;
  readonly allowed: boolean;
}

let echo: TestServer;

/**
 * Greeting + credentials over TCP. On success the tunnel is proven with a CONNECT and an
 * echo; on failure the proxy must send exactly `01 01` then EOF. Either way our side is
 * closed afterwards, so the session record follows promptly.
 */
async function attempt(proxy: TestProxy, username: string, password: string): Promise<Attempt> {
  const conn = await connectClient(proxy);
  const { client } = conn;
  client.send(Buffer.concat([greeting([USER_PASS]), credentials(username, password)]));
  assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
  const status = await client.read(2);
  if (status.equals(Buffer.from([0x01, 0x00]))) {
    client.send(Buffer.concat([request(CMD_CONNECT, "127.0.0.1", echo.port), Buffer.from("hi")]));
    assert.equal((await readReply(client)).code, 0x00);
    assert.equal((await client.read(2)).toString(), "hi");
    client.destroy();
    return { conn, status, allowed: true };
  }
  assert.deepEqual(status, Buffer.from([0x01, 0x01]), `unexpected status ${status.toString("hex")}`);
  const rest = await client.readToEnd();
  assert.equal(rest.length, 0, `bytes after the failure status: ${rest.toString("hex")}`);
  client.destroy();
  return { conn, status, allowed: false };
}

/** Asserts a denial through the engine and returns its single auth decision and session record. */
async function expectDenied(proxy: TestProxy, username: string, password: string, reason?: string) {
  const result = await attempt(proxy, username, password);
  assert.equal(result.allowed, false, "the client was let in");
  const events = authEventsOf(proxy, result.conn);
  assert.equal(events.length, 1, "exactly one auth decision");
  const decision = events[0]!.decision;
  if (decision.allowed) assert.fail("the decision says allowed");
  const record = await sessionOf(proxy, result.conn);
  assert.equal(record.identity, undefined);
  assert.deepEqual(record.groups, []);
  assert.equal(record.command, undefined);
  if (reason !== undefined) {
    assert.equal(decision.reason, reason);
    assert.equal(record.reason, `auth_failed:${reason}`);
  } else {
    assert.match(record.reason, /^auth_failed:/);
  }
  return { decision, record, conn: result.conn };
}

async function expectAllowed(proxy: TestProxy, username: string, password: string) {
  const result = await attempt(proxy, username, password);
  assert.equal(result.allowed, true, "the client was refused");
  const events = authEventsOf(proxy, result.conn);
  assert.equal(events.length, 1, "exactly one auth decision");
  const decision = events[0]!.decision;
  assert.ok(decision.allowed);
  const record = await sessionOf(proxy, result.conn);
  return { info: decision.info, provider: decision.provider, record };
}

const VALID_CONTEXTS: readonly IdentityContext[] = [
  "ProxyAuthRfc1929",
  "SmtpAuthPlainAuthentication",
  "SmtpAuthPlainAuthorization",
  "HttpBasicAuth",
  "BearerToken",
  "LocalSystem",
  "GenericAuth",
];

// ---------------------------------------------------------------------------------------

void describe("the auth contract through the real engine", () => {
  let proxy: TestProxy;

  before(async () => {
    echo = await startEchoServer();
    proxy = await startProxy({
      listeners: [{ require_auth: true }],
      // The provider's behaviour changes under the same credentials, and many attempts are
      // denied on purpose: the pipeline's cache and failure throttle would hide the provider.
      auth: { provider: switchable, timeout: "200ms", cache: false, throttle: false },
    });
  });
  after(async () => {
    await Promise.all([proxy.close(), echo.close()]);
  });

  void describe("the seed's result table", () => {
    void it("`true` → success; identity {identity: username, context: 'ProxyAuthRfc1929'}, no groups", async () => {
      behaviour = () => Promise.resolve(true);
      const { info, provider, record } = await expectAllowed(proxy, "alice", "pw");
      assert.deepEqual(info, { identities: [{ identity: "alice", context: "ProxyAuthRfc1929" }], groups: [] });
      assert.equal(provider, "contract");
      assert.equal(record.identity, "alice");
      assert.deepEqual(record.groups, []);
    });

    void it("AuthInfo with identities → success with the identities and groups exactly as returned", async () => {
      const identities = [
        { identity: "uid=alice,ou=people,dc=example", context: "GenericAuth" },
        { identity: "alice@example.com", context: "HttpBasicAuth" },
      ];
      behaviour = () => Promise.resolve({ identities, groups: ["proxy-users", "premium-tier"] });
      const { info, record } = await expectAllowed(proxy, "alice", "pw");
      assert.deepEqual(info.identities, identities);
      assert.deepEqual(info.groups, ["proxy-users", "premium-tier"]);
      // The session keeps the AuthInfo: the first identity, not the username, names it.
      assert.equal(record.identity, "uid=alice,ou=people,dc=example");
      assert.deepEqual(record.groups, ["proxy-users", "premium-tier"]);
    });

    void it("AuthInfo without groups → success with no groups", async () => {
      behaviour = () => Promise.resolve({ identities: [OK_IDENTITY] });
      const { info, record } = await expectAllowed(proxy, "alice", "pw");
      assert.deepEqual(info, { identities: [OK_IDENTITY], groups: [] });
      assert.deepEqual(record.groups, []);
    });

    void it("every valid context is accepted", async () => {
      for (const context of VALID_CONTEXTS) {
        behaviour = () => Promise.resolve({ identities: [{ identity: "alice", context }] });
        const { info } = await expectAllowed(proxy, "alice", "pw");
        assert.equal(info.identities[0]?.context, context);
      }
    });

    void it("AuthInfo with no identities → failure (even with groups)", async () => {
      behaviour = () => Promise.resolve({ identities: [], groups: ["proxy-users"] });
      await expectDenied(proxy, "alice", "pw");
    });

    void it("`false` → failure (bad_credentials)", async () => {
      behaviour = () => Promise.resolve(false);
      const { decision } = await expectDenied(proxy, "alice", "pw", "bad_credentials");
      assert.equal(decision.provider, "contract");
    });

    const invalid: [string, unknown][] = [
      ["an unknown context", { identities: [{ identity: "alice", context: "Kerberos" }] }],
      ["a context in the wrong case", { identities: [{ identity: "alice", context: "ProxyAuthRFC1929" }] }],
      ["a missing context", { identities: [{ identity: "alice" }] }],
      ["an identity that is a number", { identities: [{ identity: 42, context: "ProxyAuthRfc1929" }] }],
      ["an identity that is null", { identities: [{ identity: null, context: "ProxyAuthRfc1929" }] }],
      ["an identity entry that is a string", { identities: ["alice"] }],
      ["an identity entry that is null", { identities: [null] }],
      ["groups that is a string", { identities: [OK_IDENTITY], groups: "premium-tier" }],
      ["groups containing a number", { identities: [OK_IDENTITY], groups: ["proxy-users", 7] }],
      ["groups that is an object", { identities: [OK_IDENTITY], groups: { 0: "proxy-users" } }],
      ["identities that is an object", { identities: OK_IDENTITY }],
      ["identities that is a string", { identities: "alice" }],
      ["identities missing", { groups: ["proxy-users"] }],
      ["an array of identities instead of an AuthInfo", [OK_IDENTITY]],
      ["null", null],
      ["undefined", undefined],
      ["the number 1", 1],
      ["the number 0", 0],
      ["the string 'true'", "true"],
      ["an empty string", ""],
    ];
    for (const [label, value] of invalid) {
      void it(`${label} → failure (invalid_response)`, async () => {
        behaviour = () => Promise.resolve(value);
        await expectDenied(proxy, "alice", "pw", "invalid_response");
      });
    }

    void it("a provider that throws synchronously → failure (backend_error)", async () => {
      behaviour = () => {
        throw new Error("directory exploded");
      };
      const { decision } = await expectDenied(proxy, "alice", "pw", "backend_error");
      assert.match(decision.detail ?? "", /directory exploded/);
    });

    void it("a provider that throws a non-Error synchronously → failure (backend_error)", async () => {
      behaviour = () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw "a string";
      };
      await expectDenied(proxy, "alice", "pw", "backend_error");
    });

    void it("a provider that rejects → failure (backend_error)", async () => {
      behaviour = () => Promise.reject(new Error("connection reset by LDAP"));
      await expectDenied(proxy, "alice", "pw", "backend_error");
    });

    void it("a provider that rejects with a non-Error → failure (backend_error)", async () => {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      behaviour = () => Promise.reject(42);
      await expectDenied(proxy, "alice", "pw", "backend_error");
    });

    void it("a provider that answers without a Promise (plain `true`) still works", async () => {
      behaviour = () => true;
      const { info } = await expectAllowed(proxy, "alice", "pw");
      assert.equal(info.identities[0]?.identity, "alice");
    });
  });

  void describe("the provider deadline (timeout 200ms)", () => {
    void it("a hanging provider is denied near the deadline, its signal is aborted, a late `true` is ignored", async () => {
      const late = deferred<unknown>();
      const aborted = deferred<number>();
      let called = 0;
      let signalAtCall: boolean | undefined;
      behaviour = (_req, signal) => {
        called = Date.now();
        signalAtCall = signal.aborted;
        signal.addEventListener("abort", () => aborted.resolve(Date.now()), { once: true });
        return late.promise;
      };
      const allowedBefore = proxy.server.stats.authAllowed;
      const conn = await connectClient(proxy);
      const { client } = conn;
      client.send(Buffer.concat([greeting([USER_PASS]), credentials("alice", "pw")]));
      assert.deepEqual(await client.read(2), Buffer.from([0x05, 0x02]));
      const status = await client.read(2, 3000);
      const deniedAfter = Date.now() - called;
      assert.deepEqual(status, Buffer.from([0x01, 0x01]));
      assert.equal(signalAtCall, false, "the signal was already aborted when the provider was called");
      assert.ok(deniedAfter >= 180, `denied before the deadline (${String(deniedAfter)} ms)`);
      assert.ok(deniedAfter < 700, `denied long after the deadline (${String(deniedAfter)} ms)`);
      const abortedAt = await within(aborted.promise, 2000, "the provider's AbortSignal");
      assert.ok(abortedAt - called >= 180 && abortedAt - called < 700, "the signal aborted at the deadline");

      // The late answer must change nothing: no second status, no second decision, no entry.
      late.resolve(true);
      await flushEventLoop();
      const rest = await client.readToEnd();
      assert.equal(rest.length, 0, `bytes after the denial: ${rest.toString("hex")}`);
      client.destroy();
      const record = await sessionOf(proxy, conn);
      assert.equal(record.reason, "auth_failed:backend_timeout");
      assert.equal(record.identity, undefined);
      assert.equal(authEventsOf(proxy, conn).length, 1);
      assert.equal(proxy.server.stats.authAllowed, allowedBefore);
    });

    void it("a late rejection after the deadline is swallowed (no unhandled rejection) and the client was denied", async () => {
      const late = deferred<unknown>();
      behaviour = () => late.promise;
      const { decision } = await expectDenied(proxy, "alice", "pw", "backend_timeout");
      assert.equal(decision.provider, "contract");
      late.reject(new Error("too late"));
      await flushEventLoop();
    });
  });

  void describe("conn_meta", () => {
    void it("peer_address and local_address match the actual sockets; the signal is live", async () => {
      let meta: ConnMeta | undefined;
      let signal: AbortSignal | undefined;
      behaviour = (req, sig) => {
        meta = req.connMeta;
        signal = sig;
        return Promise.resolve(true);
      };
      const conn = await connectClient(proxy);
      const { client } = conn;
      client.send(Buffer.concat([greeting([USER_PASS]), credentials("alice", "pw")]));
      assert.deepEqual(await client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
      assert.deepEqual(meta, {
        peer_address: `${client.socket.localAddress!}:${String(client.socket.localPort)}`,
        local_address: `${client.socket.remoteAddress!}:${String(client.socket.remotePort)}`,
      });
      assert.equal(meta.local_address, `127.0.0.1:${String(proxy.port)}`);
      assert.ok(signal instanceof AbortSignal);
      assert.equal(signal.aborted, false);
      client.destroy();
    });

    void it("IPv6: addresses are [ip]:port", async (t) => {
      if (!(await ipv6LoopbackAvailable())) return t.skip("no IPv6 loopback here");
      const manual = manualProvider("v6");
      const v6 = await startProxy({
        listeners: [{ listen: "[::1]:0", require_auth: true }],
        auth: { provider: manual.provider },
      });
      try {
        const conn = await connectClient(v6, v6.port, "::1");
        conn.client.send(Buffer.concat([greeting([USER_PASS]), credentials("alice", "pw")]));
        const call = await manual.nextCall();
        call.answer.resolve(true);
        assert.deepEqual(await conn.client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x00]));
        assert.deepEqual(call.request.connMeta, {
          peer_address: `[::1]:${String(conn.client.socket.localPort)}`,
          local_address: `[::1]:${String(v6.port)}`,
        });
        conn.client.destroy();
      } finally {
        await v6.close();
      }
    });
  });

  void describe("no provider configured", () => {
    let bare: TestProxy;
    let bareStrict: TestProxy;
    before(async () => {
      bare = await startProxy();
      bareStrict = await startProxy({ listeners: [{ require_auth: true }] });
    });
    after(async () => {
      await Promise.all([bare.close(), bareStrict.close()]);
    });

    void it("a client offering 0x02 gets 05 02 then 01 01 (open and require_auth listeners)", async () => {
      for (const target of [bare, bareStrict]) {
        await expectDenied(target, "alice", "pw", "no_provider");
      }
    });

    void it("a client offering 0x00 and 0x02 on an open listener still gets 0x02 and then 01 01", async () => {
      const conn = await connectClient(bare);
      conn.client.send(Buffer.concat([greeting([NO_AUTH, USER_PASS]), credentials("alice", "pw")]));
      assert.deepEqual(await conn.client.read(4), Buffer.from([0x05, 0x02, 0x01, 0x01]));
      assert.equal((await conn.client.readToEnd()).length, 0);
      conn.client.destroy();
      assert.equal((await sessionOf(bare, conn)).reason, "auth_failed:no_provider");
    });

    void it("the socks client with credentials is refused", async () => {
      await assert.rejects(
        SocksClient.createConnection({
          proxy: { host: "127.0.0.1", port: bare.port, type: 5, userId: "alice", password: "pw" },
          command: "connect",
          destination: { host: "127.0.0.1", port: echo.port },
          timeout: 3000,
        }),
        /Authentication failed/,
      );
    });
  });

  void describe("the password never reaches a log record", () => {
    const SECRET = `pw-"S3cr3t"\\ü-${String(process.pid)}`;
    const cases: [string, Behaviour, boolean][] = [
      [
        "an Error thrown with the password in its message",
        (req) => {
          throw new Error(`bind failed for ${req.username} with password ${req.password}`);
        },
        true,
      ],
      [
        "a rejection with the password in its message",
        (req) => Promise.reject(new Error(`LDAP: invalid credentials '${req.password}' (twice: ${req.password})`)),
        true,
      ],
      [
        "an Error whose name carries the password",
        (req) => {
          const error = new Error("backend down");
          error.name = `BackendError[${req.password}]`;
          throw error;
        },
        true,
      ],
      [
        "a non-Error thrown with the password",
        (req) => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw `password was ${req.password}`;
        },
        true,
      ],
      ["bad credentials", () => Promise.resolve(false), false],
      ["an invalid response", () => Promise.resolve({ identities: [{ identity: "alice", context: "Nope" }] }), false],
      ["a success", () => Promise.resolve(true), false],
    ];
    for (const [label, provider, mentionsSecret] of cases) {
      void it(label, async () => {
        behaviour = provider;
        const logsFrom = proxy.logs.length;
        const result = await attempt(proxy, "alice", SECRET);
        await sessionOf(proxy, result.conn);
        const logs = proxy.logs.slice(logsFrom);
        const authLog = logs.find(
          (record) => record.fields["event"] === "auth" && record.fields["peer_address"] === result.conn.peer,
        );
        assert.ok(authLog !== undefined, "no auth log record for this attempt");
        const leaked = allStrings(logs).filter((text) => text.includes(SECRET));
        assert.deepEqual(leaked, [], "the password reached the log");
        const events = authEventsOf(proxy, result.conn);
        assert.deepEqual(
          allStrings(events).filter((text) => text.includes(SECRET)),
          [],
          "the password reached the auth event",
        );
        if (mentionsSecret) {
          // The diagnostic is kept, with the secret replaced.
          assert.match(String(authLog.fields["detail"]), /\[REDACTED\]/);
        }
      });
    }
  });

  void describe("the seed's examples", () => {
    /** Example 1: an inline password database returning a boolean; an empty password is denied. */
    const seedBoolean: AuthProvider = {
      name: "seed-boolean",
      authenticate({ password, username }) {
        const database: Record<string, string> = { proxyuser: "secretpassword" };
        if (password === "") return Promise.resolve(false);
        return Promise.resolve(Object.hasOwn(database, username) && database[username] === password);
      },
    };
    /** Example 2: the same database returning an AuthInfo with groups. */
    const seedGroups: AuthProvider = {
      name: "seed-groups",
      authenticate({ password, username }) {
        const database: Record<string, { password: string; groups: string[] }> = {
          proxyuser: { password: "secretpassword", groups: ["proxy-users", "premium-tier"] },
        };
        const entry = Object.hasOwn(database, username) ? database[username] : undefined;
        if (entry === undefined) return Promise.resolve(false);
        if (entry.password !== password) return Promise.resolve(false);
        return Promise.resolve({
          identities: [{ identity: username, context: "ProxyAuthRfc1929" }],
          groups: entry.groups,
        });
      },
    };
    let booleanProxy: TestProxy;
    let groupsProxy: TestProxy;
    before(async () => {
      booleanProxy = await startProxy({ listeners: [{ require_auth: true }], auth: { provider: seedBoolean } });
      groupsProxy = await startProxy({ listeners: [{ require_auth: true }], auth: { provider: seedGroups } });
    });
    after(async () => {
      await Promise.all([booleanProxy.close(), groupsProxy.close()]);
    });

    void it("example 1: an empty password is denied; proxyuser/secretpassword is let in without groups", async () => {
      await expectDenied(booleanProxy, "proxyuser", "", "bad_credentials");
      await expectDenied(booleanProxy, "proxyuser", "wrong", "bad_credentials");
      await expectDenied(booleanProxy, "nobody", "secretpassword", "bad_credentials");
      const { info, record } = await expectAllowed(booleanProxy, "proxyuser", "secretpassword");
      assert.deepEqual(info, { identities: [{ identity: "proxyuser", context: "ProxyAuthRfc1929" }], groups: [] });
      assert.equal(record.identity, "proxyuser");
    });

    void it("example 2: proxyuser/secretpassword gets groups proxy-users and premium-tier", async () => {
      const { info, record } = await expectAllowed(groupsProxy, "proxyuser", "secretpassword");
      assert.deepEqual(info, {
        identities: [{ identity: "proxyuser", context: "ProxyAuthRfc1929" }],
        groups: ["proxy-users", "premium-tier"],
      });
      assert.deepEqual(record.groups, ["proxy-users", "premium-tier"]);
      await expectDenied(groupsProxy, "proxyuser", "", "bad_credentials");
      await expectDenied(groupsProxy, "stranger", "secretpassword", "bad_credentials");
    });

    void it("the socks client: good credentials tunnel and the session keeps identity and groups", async () => {
      const from = groupsProxy.sessions.length;
      const { socket } = await SocksClient.createConnection({
        proxy: { host: "127.0.0.1", port: groupsProxy.port, type: 5, userId: "proxyuser", password: "secretpassword" },
        command: "connect",
        destination: { host: "127.0.0.1", port: echo.port },
        timeout: 3000,
      });
      const peer = `127.0.0.1:${String(socket.localPort)}`;
      socket.write("seed");
      const [data] = (await within(once(socket, "data"), 3000, "echo")) as [Buffer];
      assert.equal(data.toString(), "seed");
      socket.end();
      await within(once(socket, "close"), 3000, "close");
      const record = await sessionOf(groupsProxy, { peer, sessionsFrom: from });
      assert.equal(record.identity, "proxyuser");
      assert.deepEqual(record.groups, ["proxy-users", "premium-tier"]);
      assert.equal(record.reason, "completed");
    });

    void it("the socks client: a wrong password is refused", async () => {
      for (const target of [booleanProxy, groupsProxy]) {
        await assert.rejects(
          SocksClient.createConnection({
            proxy: { host: "127.0.0.1", port: target.port, type: 5, userId: "proxyuser", password: "wrongpassword" },
            command: "connect",
            destination: { host: "127.0.0.1", port: echo.port },
            timeout: 3000,
          }),
          /Authentication failed/,
        );
      }
    });
  });
});
