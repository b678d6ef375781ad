import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { IDENTITY_CONTEXTS, normalizeAuthResult, redactSecret } from "@gatehouse-proxy/core";
import { ProviderAuthenticator } from "../../dist/auth/provider-authenticator.js";
import type { AuthProvider, AuthRequest } from "@gatehouse-proxy/core";

const request: AuthRequest = {
  username: "proxyuser",
  password: "s3cr3t",
  connMeta: { peer_address: "127.0.0.1:5000", local_address: "127.0.0.1:1080" },
};

describe("normalizeAuthResult: the seed's table", () => {
  it("true → the username as a ProxyAuthRfc1929 identity, no groups", () => {
    assert.deepEqual(normalizeAuthResult(true, "alice"), {
      ok: true,
      info: { identities: [{ identity: "alice", context: "ProxyAuthRfc1929" }], groups: [] },
      reusable: true,
    });
  });

  it("AuthInfo with identities → those identities and groups", () => {
    const info = { identities: [{ identity: "a", context: "HttpBasicAuth" }], groups: ["g1", "g2"] };
    assert.deepEqual(normalizeAuthResult(info, "x"), { ok: true, info, reusable: true });
  });

  it("AuthInfo with reusable: false → an allow that must not be reused; a non-boolean is invalid", () => {
    const identities = [{ identity: "a", context: "ProxyAuthRfc1929" }];
    assert.deepEqual(normalizeAuthResult({ identities, reusable: false }, "a"), {
      ok: true,
      info: { identities, groups: [] },
      reusable: false,
    });
    assert.equal(normalizeAuthResult({ identities, reusable: true }, "a").ok, true);
    assert.deepEqual(normalizeAuthResult({ identities, reusable: 0 }, "a"), {
      ok: false,
      invalid: true,
      detail: "AuthInfo.reusable is not a boolean",
    });
  });

  it("accepts every documented context", () => {
    for (const context of IDENTITY_CONTEXTS) {
      assert.equal(normalizeAuthResult({ identities: [{ identity: "a", context }] }, "a").ok, true);
    }
  });

  it("false and empty identities are bad credentials, not invalid", () => {
    assert.deepEqual(normalizeAuthResult(false, "a"), { ok: false, invalid: false, detail: "provider returned false" });
    const empty = normalizeAuthResult({ identities: [], groups: ["g"] }, "a");
    assert.equal(empty.ok, false);
    assert.equal(empty.invalid, false);
  });

  it("every other shape is invalid", () => {
    for (const value of [
      undefined,
      null,
      0,
      1,
      "true",
      [],
      {},
      { identities: "a" },
      { identities: [null] },
      { identities: [{ identity: 1, context: "ProxyAuthRfc1929" }] },
      { identities: [{ identity: "a", context: "Kerberos" }] },
      { identities: [{ identity: "a" }] },
      { identities: [{ identity: "a", context: "ProxyAuthRfc1929" }], groups: "g" },
      { identities: [{ identity: "a", context: "ProxyAuthRfc1929" }], groups: [1] },
    ]) {
      const outcome = normalizeAuthResult(value, "a");
      assert.equal(outcome.ok, false, JSON.stringify(value));
      assert.equal(outcome.invalid, true, JSON.stringify(value));
    }
  });
});

describe("ProviderAuthenticator", () => {
  const provider = (authenticate: AuthProvider["authenticate"]): AuthProvider => ({ name: "p", authenticate });

  it("denies with no_provider when none is configured", async () => {
    assert.deepEqual(await new ProviderAuthenticator(undefined).decide(request), {
      allowed: false,
      reason: "no_provider",
    });
  });

  it("tells a throw from a rejection from a timeout, and aborts the provider's signal", async () => {
    const thrown = await new ProviderAuthenticator(
      provider(() => {
        throw new Error("boom");
      }),
    ).decide(request);
    assert.equal(!thrown.allowed && thrown.reason, "backend_error");

    const rejected = await new ProviderAuthenticator(provider(() => Promise.reject(new Error("down")))).decide(request);
    assert.equal(!rejected.allowed && rejected.reason, "backend_error");

    let seen: AbortSignal | undefined;
    const started = Date.now();
    const timedOut = await new ProviderAuthenticator(
      provider((_request, signal) => {
        seen = signal;
        return new Promise(() => undefined);
      }),
      100,
    ).decide(request);
    assert.equal(!timedOut.allowed && timedOut.reason, "backend_timeout");
    assert.ok(Date.now() - started >= 95);
    assert.equal(seen?.aborted, true);
  });

  it("redacts the password from provider errors", async () => {
    const decision = await new ProviderAuthenticator(
      provider((req) => Promise.reject(new Error(`bind failed for ${req.username} with ${req.password}`))),
    ).decide(request);
    assert.equal(decision.allowed, false);
    assert.ok(decision.detail?.includes("[REDACTED]"));
    assert.ok(!JSON.stringify(decision).includes("s3cr3t"));
  });

  it("passes the request and conn_meta through unchanged", async () => {
    let received: AuthRequest | undefined;
    const decision = await new ProviderAuthenticator(
      provider((req) => {
        received = req;
        return Promise.resolve(true);
      }),
    ).decide(request);
    assert.equal(decision.allowed, true);
    assert.deepEqual(received, request);
  });
});

describe("redactSecret", () => {
  it("replaces every occurrence and leaves text alone for an empty secret", () => {
    assert.equal(redactSecret("a pw b pw", "pw"), "a [REDACTED] b [REDACTED]");
    assert.equal(redactSecret("text", ""), "text");
  });
});
