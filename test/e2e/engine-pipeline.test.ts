import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { AuthProvider, AuthRequest, AuthResult } from "@gatehouse-proxy/core";
import { curl } from "../helpers/curl.js";
import type { CurlResult } from "../helpers/curl.js";
import { startHttpServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";

/** A real provider object that counts its calls. */
function countingProvider(
  name: string,
  answer: (request: AuthRequest) => AuthResult,
): AuthProvider & { readonly calls: AuthRequest[] } {
  const calls: AuthRequest[] = [];
  return {
    name,
    calls,
    authenticate(request) {
      calls.push(request);
      return Promise.resolve(answer(request));
    },
  };
}

const seedDatabase = (request: AuthRequest): boolean =>
  request.username === "proxyuser" && request.password === "secretpassword";

/** The auth pipeline through the real engine, with the real curl as the client. */
describe("the auth pipeline through the engine, with curl", () => {
  let http: TestServer;

  before(async () => {
    http = await startHttpServer();
  });
  after(() => http.close());

  function fetchThrough(proxy: TestProxy, userPass: string, path: string): Promise<CurlResult> {
    return curl([
      "--socks5-hostname",
      `127.0.0.1:${String(proxy.port)}`,
      "--proxy-user",
      userPass,
      `http://127.0.0.1:${String(http.port)}${path}`,
    ]);
  }

  it("cache: two curl runs with the same credentials ask the provider once", async () => {
    const provider = countingProvider("counted", seedDatabase);
    const proxy = await startProxy({ listeners: [{ require_auth: true }], auth: { provider } });
    try {
      for (const path of ["/first", "/second"]) {
        const result = await fetchThrough(proxy, "proxyuser:secretpassword", path);
        assert.equal(result.exitCode, 0, result.stderr);
        assert.equal(result.stdout, `hello ${path}`);
      }
      assert.equal(provider.calls.length, 1, "the provider was asked again");
      const decisions = proxy.authEvents.map((event) => event.decision);
      assert.equal(decisions.length, 2);
      assert.equal(decisions[0]?.cached, undefined);
      assert.equal(decisions[1]?.cached, true);
      assert.equal(decisions[1].provider, "counted");
      const sessions = await proxy.sessionsEnded(2);
      assert.deepEqual(
        sessions.map((record) => record.identity),
        ["proxyuser", "proxyuser"],
      );
    } finally {
      await proxy.close();
    }
  });

  it("throttling: after N bad passwords curl is refused and the provider is not asked (reason throttled)", async () => {
    const provider = countingProvider("counted", seedDatabase);
    const proxy = await startProxy({
      listeners: [{ require_auth: true }],
      auth: { provider, throttle: { max_failures: 3, window: "60s", block: "60s" } },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const result = await fetchThrough(proxy, `proxyuser:wrong-${String(i)}`, "/guess");
        assert.equal(result.exitCode, 97, `attempt ${String(i)}: ${result.stderr}`);
      }
      assert.equal(provider.calls.length, 3);
      const refused = await fetchThrough(proxy, "proxyuser:secretpassword", "/right");
      assert.equal(refused.exitCode, 97, "the throttled client got in");
      assert.equal(provider.calls.length, 3, "the provider was asked while the client was throttled");
      const reasons = proxy.authEvents.map((event) => (event.decision.allowed ? "allowed" : event.decision.reason));
      assert.deepEqual(reasons, ["bad_credentials", "bad_credentials", "bad_credentials", "throttled"]);
      const records = await proxy.sessionsEnded(4);
      assert.equal(records.at(-1)?.reason, "auth_failed:throttled");
      assert.ok(!JSON.stringify(proxy.logs).includes("secretpassword"), "a password reached the log");
    } finally {
      await proxy.close();
    }
  });

  it("chain: the first provider says false, the second allows; the identity is the second's", async () => {
    const first = countingProvider("first", () => false);
    const second = countingProvider("second", (request) =>
      seedDatabase(request)
        ? { identities: [{ identity: "uid=proxyuser,ou=people", context: "GenericAuth" }], groups: ["proxy-users"] }
        : false,
    );
    const proxy = await startProxy({
      listeners: [{ require_auth: true }],
      auth: { chain: [{ provider: first }, { provider: second }] },
    });
    try {
      const result = await fetchThrough(proxy, "proxyuser:secretpassword", "/chain");
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout, "hello /chain");
      assert.equal(first.calls.length, 1);
      assert.equal(second.calls.length, 1);
      const [event] = proxy.authEvents;
      assert.ok(event?.decision.allowed);
      assert.equal(event.decision.provider, "second");
      const [record] = await proxy.sessionsEnded(1);
      assert.equal(record?.identity, "uid=proxyuser,ou=people");
      assert.deepEqual(record.groups, ["proxy-users"]);
      assert.equal(record.reason, "completed");
    } finally {
      await proxy.close();
    }
  });
});
