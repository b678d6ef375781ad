import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { WebhookError } from "@gatehouse-proxy/auth-webhook";
import { closeProviders, noSignal, rejection, reply, request, startServer, wire } from "../fixtures.js";
import type { TestServer } from "../fixtures.js";

const PASSWORD = "pw-Zq8#never-in-errors";

async function ask(server: TestServer, extra: Record<string, unknown> = {}) {
  const { provider } = wire({ url: server.url, insecure: true, timeout: "3s", ...extra });
  return provider.authenticate(request("alice", PASSWORD), noSignal);
}

async function withServer<T>(handler: Parameters<typeof startServer>[0], work: (server: TestServer) => Promise<T>) {
  const server = await startServer(handler);
  try {
    return await work(server);
  } finally {
    await server.close();
  }
}

describe("response matrix (nginx auth_request semantics)", () => {
  after(closeProviders);

  const allowed: [string, number, string | undefined, unknown][] = [
    ["200 with an empty body", 200, "", true],
    ["204 with no body", 204, undefined, true],
    ["200 true", 200, "true", true],
    ["200 true with whitespace", 200, " true\n", true],
    [
      "200 AuthInfo",
      200,
      JSON.stringify({ identities: [{ identity: "alice@corp", context: "ProxyAuthRfc1929" }], groups: ["g1", "g2"] }),
      { identities: [{ identity: "alice@corp", context: "ProxyAuthRfc1929" }], groups: ["g1", "g2"] },
    ],
    [
      "201 AuthInfo without groups",
      201,
      JSON.stringify({ identities: [{ identity: "alice", context: "HttpBasicAuth" }] }),
      { identities: [{ identity: "alice", context: "HttpBasicAuth" }], groups: [] },
    ],
  ];
  for (const [name, status, body, expected] of allowed) {
    it(`${name} allows`, () =>
      withServer(reply(status, body), async (server) => {
        assert.deepEqual(await ask(server), expected);
        assert.equal(server.received.length, 1);
      }));
  }

  const denied: [string, number, string | undefined][] = [
    ["200 false", 200, "false"],
    ["200 AuthInfo with no identities", 200, JSON.stringify({ identities: [] })],
    ["401", 401, undefined],
    ["401 with a body", 401, JSON.stringify({ error: "nope" })],
    ["403", 403, "forbidden"],
  ];
  for (const [name, status, body] of denied) {
    it(`${name} denies (false, not an error)`, () =>
      withServer(reply(status, body), async (server) => assert.equal(await ask(server), false)));
  }

  const invalidBodies: [string, string][] = [
    ["invalid JSON", "{not json"],
    ["a string", JSON.stringify("yes")],
    ["null", "null"],
    ["a number", "1"],
    ["an array", "[true]"],
    ["identities not an array", JSON.stringify({ identities: "alice" })],
    ["an unknown context", JSON.stringify({ identities: [{ identity: "alice", context: "Kerberos" }] })],
    ["groups not strings", JSON.stringify({ identities: [{ identity: "a", context: "GenericAuth" }], groups: [1] })],
  ];
  for (const [name, body] of invalidBodies) {
    it(`200 with ${name} is an error`, () =>
      withServer(reply(200, body), async (server) => {
        const { error } = await rejection(() => ask(server));
        assert.ok(error instanceof WebhookError, String(error));
        assert.equal(error.code, "invalid_response");
        assert.match(error.message, /answered 200/);
        assert.ok(!error.message.includes(PASSWORD));
      }));
  }

  for (const status of [400, 404, 405, 429, 500, 502, 503]) {
    it(`${status} is an error naming the status`, () =>
      withServer(
        (received, response) => {
          response.writeHead(status, { "content-type": "application/json" });
          // A receiver that echoes the request: the error must still not carry the password.
          response.end(received.body);
        },
        async (server) => {
          const { error } = await rejection(() => ask(server));
          assert.ok(error instanceof WebhookError);
          assert.equal(error.code, "status");
          assert.match(error.message, new RegExp(`answered ${status}`));
          assert.ok(!error.message.includes(PASSWORD) && !String(error.stack).includes(PASSWORD));
        },
      ));
  }

  for (const status of [301, 302, 303, 307, 308]) {
    it(`${status} is an error and the redirect is not followed`, async () => {
      const elsewhere = await startServer(reply(200, "true"));
      try {
        await withServer(reply(status, "", { location: elsewhere.url }), async (server) => {
          const { error } = await rejection(() => ask(server));
          assert.ok(error instanceof WebhookError);
          assert.equal(error.code, "redirect");
          assert.match(error.message, new RegExp(`answered ${status}`));
          assert.equal(server.received.length, 1);
        });
        assert.equal(elsewhere.connections, 0, "the redirect target received nothing");
        assert.equal(elsewhere.received.length, 0);
      } finally {
        await elsewhere.close();
      }
    });
  }

  it("a connection refused is an error at once", async () => {
    const server = await startServer(reply(200));
    const url = server.url;
    await server.close();
    const { provider } = wire({ url, insecure: true, timeout: "3s" });
    const { error, ms } = await rejection(() => provider.authenticate(request("alice", PASSWORD), noSignal));
    assert.ok(error instanceof WebhookError);
    assert.equal(error.code, "network");
    assert.match(error.message, /ECONNREFUSED/);
    assert.ok(ms < 2000, `${ms} ms`);
  });
});

describe("keep-alive", () => {
  let server: TestServer;
  before(async () => (server = await startServer(reply(200, "true"))));
  after(async () => {
    await closeProviders();
    await server.close();
  });

  it("reuses one connection for sequential logins, and opens one per login with keep_alive: false", async () => {
    const { provider } = wire({ url: server.url, insecure: true });
    for (let i = 0; i < 20; i++) assert.equal(await provider.authenticate(request("alice", "pw"), noSignal), true);
    assert.equal(server.connections, 1);
    // 401 and 403 answers (wrong passwords) keep the connection too.
    const denying = await startServer(reply(401, JSON.stringify({ error: "bad credentials" })));
    try {
      const { provider: denier } = wire({ url: denying.url, insecure: true });
      for (let i = 0; i < 5; i++) assert.equal(await denier.authenticate(request("alice", "x"), noSignal), false);
      assert.equal(denying.connections, 1);
    } finally {
      await denying.close();
    }
    const { provider: fresh } = wire({ url: server.url, insecure: true, keep_alive: false });
    for (let i = 0; i < 5; i++) assert.equal(await fresh.authenticate(request("alice", "pw"), noSignal), true);
    assert.equal(server.connections, 6);
  });

  it("keep_alive: false opens one connection per login also when logins queue for max_sockets", async () => {
    const slow = await startServer((_received, response) => setTimeout(() => response.end("true"), 20));
    try {
      const { provider } = wire({ url: slow.url, insecure: true, keep_alive: false, max_sockets: 2 });
      const results = await Promise.all(
        Array.from({ length: 8 }, () => provider.authenticate(request("alice", "pw"), noSignal)),
      );
      assert.ok(results.every((result) => result === true));
      assert.equal(slow.connections, 8);
      assert.ok(slow.received.every((received) => received.headers.connection === "close"));
    } finally {
      await slow.close();
    }
  });

  it("max_sockets caps concurrent connections", async () => {
    const slow = await startServer((_received, response) => setTimeout(() => response.end("true"), 50));
    try {
      const { provider } = wire({ url: slow.url, insecure: true, max_sockets: 3 });
      const results = await Promise.all(
        Array.from({ length: 12 }, () => provider.authenticate(request("alice", "pw"), noSignal)),
      );
      assert.ok(results.every((result) => result === true));
      assert.equal(slow.connections, 3);
    } finally {
      await slow.close();
    }
  });
});
