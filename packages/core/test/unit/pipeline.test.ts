import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { inspect } from "node:util";
import { AUTH_PIPELINE_DEFAULTS } from "../../dist/auth/pipeline-options.js";
import { AuthConfigError, createProxyServer } from "@gatehouse-proxy/core/engine";
import { AuthPipeline } from "../../dist/auth/pipeline.js";
import type { AuthDecision, AuthOptions } from "@gatehouse-proxy/core/engine";
import type { AuthPipelineOptions } from "../../dist/auth/pipeline-options.js";
import type { AuthProvider, AuthRequest, AuthResult } from "@gatehouse-proxy/core";

// ---------------------------------------------------------------------------------------
// Real provider objects that record their calls, a clock the tests move, and small helpers.
// ---------------------------------------------------------------------------------------

interface Call {
  readonly request: AuthRequest;
  readonly signal: AbortSignal;
}

interface TestProvider extends AuthProvider {
  readonly calls: Call[];
}

function provider(
  name: string,
  answer: (request: AuthRequest, signal: AbortSignal) => Promise<AuthResult> | AuthResult,
): TestProvider {
  const calls: Call[] = [];
  return {
    name,
    calls,
    authenticate(request, signal) {
      calls.push({ request, signal });
      return Promise.resolve(answer(request, signal));
    },
  };
}

const allowAll = (name = "allow"): TestProvider => provider(name, () => true);
const denyAll = (name = "deny"): TestProvider => provider(name, () => false);
const broken = (name = "broken"): TestProvider => provider(name, () => Promise.reject(new Error("backend down")));
const hanging = (name = "hang"): TestProvider => provider(name, () => new Promise<AuthResult>(() => undefined));

/** Accepts exactly one password per username. */
function passwords(name: string, table: Record<string, string>): TestProvider {
  return provider(name, ({ username, password }) => Object.hasOwn(table, username) && table[username] === password);
}

interface Gate {
  readonly provider: TestProvider;
  /** Settles every call made so far (and later ones, once opened). */
  open(result: AuthResult): void;
  readonly active: () => number;
  readonly maxActive: () => number;
}

/** A provider whose calls wait until the test opens the gate; it tracks how many run at once. */
function gate(name = "gate"): Gate {
  const waiting: ((result: AuthResult) => void)[] = [];
  let opened: AuthResult | undefined;
  let active = 0;
  let maxActive = 0;
  const gated = provider(name, async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      return opened ?? (await new Promise<AuthResult>((resolve) => waiting.push(resolve)));
    } finally {
      active--;
    }
  });
  return {
    provider: gated,
    open(result) {
      opened = result;
      for (const resolve of waiting.splice(0)) resolve(result);
    },
    active: () => active,
    maxActive: () => maxActive,
  };
}

function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let time = start;
  return {
    now: () => time,
    advance(ms) {
      time += ms;
    },
  };
}

function attempt(username: string, password: string, peer = "10.0.0.1:40000"): AuthRequest {
  return { username, password, connMeta: { peer_address: peer, local_address: "127.0.0.1:1080" } };
}

/** A pipeline with neither cache nor throttle unless the test asks for them. */
function pipeline(options: Partial<AuthPipelineOptions> & Pick<AuthPipelineOptions, "chain">): AuthPipeline {
  return new AuthPipeline({ cache: false, throttle: false, ...options });
}

function reasonOf(decision: AuthDecision): string {
  return decision.allowed ? "allowed" : decision.reason;
}

async function flush(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

// ---------------------------------------------------------------------------------------

describe("AuthPipeline: the chain", () => {
  it("asks providers in order; `false` passes to the next; the one that allowed is named", async () => {
    const first = denyAll("first");
    const second = provider("second", () => ({
      identities: [{ identity: "uid=alice", context: "GenericAuth" }],
      groups: ["g"],
    }));
    const third = allowAll("third");
    const auth = pipeline({ chain: [{ provider: first }, { provider: second }, { provider: third }] });
    const decision = await auth.decide(attempt("alice", "pw"));
    assert.deepEqual(decision, {
      allowed: true,
      provider: "second",
      info: { identities: [{ identity: "uid=alice", context: "GenericAuth" }], groups: ["g"] },
    });
    assert.equal(first.calls.length, 1);
    assert.equal(second.calls.length, 1);
    assert.equal(third.calls.length, 0, "the chain stops at the first allow");
  });

  it("every provider says false → bad_credentials from the last one asked", async () => {
    const auth = pipeline({ chain: [{ provider: denyAll("a") }, { provider: denyAll("b") }] });
    const decision = await auth.decide(attempt("alice", "pw"));
    assert.equal(reasonOf(decision), "bad_credentials");
    assert.equal(decision.provider, "b");
  });

  it("an empty chain denies with no_provider", async () => {
    assert.deepEqual(await new AuthPipeline({ chain: [] }).decide(attempt("alice", "pw")), {
      allowed: false,
      reason: "no_provider",
    });
  });

  const failures: [string, () => TestProvider, string][] = [
    ["a rejection", () => broken("failing"), "backend_error"],
    [
      "a synchronous throw",
      () => ({
        name: "failing",
        calls: [],
        authenticate() {
          throw new Error("sync boom");
        },
      }),
      "backend_error",
    ],
    [
      "an invalid response",
      () => provider("failing", () => ({ identities: "nope" }) as unknown as AuthResult),
      "invalid_response",
    ],
    ["a missed deadline", () => hanging("failing"), "backend_timeout"],
  ];
  for (const [label, make, reason] of failures) {
    it(`${label} stops the chain and denies (${reason}), naming the provider`, async () => {
      const next = allowAll("next");
      const auth = pipeline({ chain: [{ provider: make() }, { provider: next }], timeoutMs: 50 });
      const decision = await auth.decide(attempt("alice", "pw"));
      assert.equal(reasonOf(decision), reason);
      assert.equal(decision.provider, "failing");
      assert.equal(next.calls.length, 0);
    });

    it(`${label} with onError: "next" passes to the next provider`, async () => {
      const next = allowAll("next");
      const auth = pipeline({ chain: [{ provider: make(), onError: "next" }, { provider: next }], timeoutMs: 50 });
      const decision = await auth.decide(attempt("alice", "pw"));
      assert.equal(decision.allowed, true);
      assert.equal(decision.provider, "next");
    });
  }

  it("a skipped error followed by `false` denies with the error, not bad_credentials", async () => {
    const auth = pipeline({ chain: [{ provider: broken("a"), onError: "next" }, { provider: denyAll("b") }] });
    const decision = await auth.decide(attempt("alice", "pw"));
    assert.equal(reasonOf(decision), "backend_error");
    assert.equal(decision.provider, "a");
  });

  it("passes the request and conn_meta to each provider unchanged", async () => {
    const first = denyAll("a");
    const second = allowAll("b");
    const request = attempt("alice", "pw", "[2001:db8::1]:5000");
    await pipeline({ chain: [{ provider: first }, { provider: second }] }).decide(request);
    assert.deepEqual(first.calls[0]?.request, request);
    assert.deepEqual(second.calls[0]?.request, request);
  });
});

describe("AuthPipeline: deadline per provider", () => {
  it("a hung provider is denied at its deadline, its signal is aborted and a late answer is ignored", async () => {
    let answer: ((value: AuthResult) => void) | undefined;
    const slow = provider("slow", () => new Promise<AuthResult>((resolve) => (answer = resolve)));
    const auth = pipeline({ chain: [{ provider: slow }], timeoutMs: 80 });
    const started = Date.now();
    const decision = await auth.decide(attempt("alice", "pw"));
    assert.equal(reasonOf(decision), "backend_timeout");
    assert.ok(Date.now() - started >= 75, "answered before the deadline");
    assert.equal(slow.calls[0]?.signal.aborted, true);
    answer?.(true);
    await flush();
  });

  it("each provider in the chain gets its own deadline", async () => {
    const first = hanging("first");
    const second = provider("second", () => new Promise<AuthResult>((resolve) => setTimeout(resolve, 60, true)));
    const auth = pipeline({ chain: [{ provider: first, onError: "next" }, { provider: second }], timeoutMs: 100 });
    const decision = await auth.decide(attempt("alice", "pw"));
    assert.equal(decision.allowed, true, "the second provider had a full deadline of its own");
    assert.equal(decision.provider, "second");
    assert.equal(first.calls[0]?.signal.aborted, true);
  });

  it("the caller's signal aborts the provider call in flight", async () => {
    const slow = hanging("slow");
    const auth = pipeline({ chain: [{ provider: slow }], timeoutMs: 5000 });
    const controller = new AbortController();
    const pending = auth.decide(attempt("alice", "pw"), controller.signal);
    await flush();
    controller.abort(new Error("client left"));
    const decision = await pending;
    assert.equal(reasonOf(decision), "aborted");
    assert.equal(slow.calls[0]?.signal.aborted, true);
  });
});

describe("AuthPipeline: the decision cache", () => {
  it("a repeated attempt is answered from the cache, still naming the provider that allowed it", async () => {
    const first = denyAll("first");
    const second = allowAll("second");
    const auth = new AuthPipeline({ chain: [{ provider: first }, { provider: second }], throttle: false });
    const fresh = await auth.decide(attempt("alice", "pw"));
    const cached = await auth.decide(attempt("alice", "pw", "10.9.9.9:1234"));
    assert.equal(fresh.cached, undefined);
    assert.ok(cached.allowed && fresh.allowed);
    assert.equal(cached.provider, "second");
    assert.equal(cached.cached, true);
    assert.deepEqual(cached.info, fresh.info);
    assert.equal(first.calls.length, 1);
    assert.equal(second.calls.length, 1, "the provider was asked again");
  });

  it("forgetIdentity (a revocation) drops that identity's cached allows only", async () => {
    const directory = provider("dir", ({ username }) => ({
      identities: [{ identity: `uid=${username}`, context: "GenericAuth" }],
    }));
    const auth = new AuthPipeline({ chain: [{ provider: directory }], throttle: false });
    await auth.decide(attempt("alice", "pw"));
    await auth.decide(attempt("alice", "other-pw"));
    await auth.decide(attempt("bob", "pw"));
    assert.equal(auth.forgetIdentity("uid=alice"), 2);
    assert.equal(auth.forgetIdentity("uid=alice"), 0);
    assert.equal((await auth.decide(attempt("alice", "pw"))).cached, undefined, "alice asks the provider again");
    assert.equal((await auth.decide(attempt("bob", "pw"))).cached, true, "bob's allow is kept");
    assert.equal(directory.calls.length, 4);
  });

  it("a provider that decides on conn_meta is cached and coalesced per client IP and listener", async () => {
    const byAddress: TestProvider = {
      ...provider("by-address", ({ connMeta }) => connMeta.peer_address.startsWith("10.0.0.1:")),
      usesConnMeta: true,
    };
    const auth = new AuthPipeline({ chain: [{ provider: byAddress }], throttle: false });
    assert.equal((await auth.decide(attempt("alice", "pw", "10.0.0.1:1111"))).allowed, true);
    const samePeerIp = await auth.decide(attempt("alice", "pw", "10.0.0.1:2222"));
    assert.equal(samePeerIp.cached, true, "another port of the same client IP hits the cache");
    const otherPeer = await auth.decide(attempt("alice", "pw", "10.0.0.2:1111"));
    assert.equal(reasonOf(otherPeer), "bad_credentials", "another client IP must not reuse the allow");
    const otherListener = await auth.decide({
      username: "alice",
      password: "pw",
      connMeta: { peer_address: "10.0.0.1:3333", local_address: "127.0.0.1:1081" },
    });
    assert.equal(otherListener.cached, undefined, "another listener address misses the cache");
    assert.equal(byAddress.calls.length, 3);
  });

  it("a different password or username misses the cache", async () => {
    const db = passwords("db", { alice: "pw", bob: "pw" });
    const auth = new AuthPipeline({ chain: [{ provider: db }], throttle: false });
    assert.equal((await auth.decide(attempt("alice", "pw"))).allowed, true);
    const wrong = await auth.decide(attempt("alice", "other"));
    assert.equal(reasonOf(wrong), "bad_credentials");
    assert.equal(wrong.cached, undefined);
    assert.equal((await auth.decide(attempt("bob", "pw"))).allowed, true);
    assert.equal(db.calls.length, 3);
  });

  it("the key encoding is unambiguous: (ab, c) and (a, bc) are different entries", async () => {
    const db = passwords("db", { ab: "c" });
    const auth = new AuthPipeline({ chain: [{ provider: db }], throttle: false });
    assert.equal((await auth.decide(attempt("ab", "c"))).allowed, true);
    assert.equal(reasonOf(await auth.decide(attempt("a", "bc"))), "bad_credentials");
    assert.equal(db.calls.length, 2);
  });

  it("an allow expires after cache.ttlMs", async () => {
    const time = clock();
    const db = allowAll();
    const auth = new AuthPipeline({
      chain: [{ provider: db }],
      cache: { ttlMs: 1000 },
      throttle: false,
      now: time.now,
    });
    await auth.decide(attempt("alice", "pw"));
    time.advance(999);
    assert.equal((await auth.decide(attempt("alice", "pw"))).cached, true);
    assert.equal(db.calls.length, 1);
    time.advance(1);
    const after = await auth.decide(attempt("alice", "pw"));
    assert.equal(after.allowed, true);
    assert.equal(after.cached, undefined);
    assert.equal(db.calls.length, 2);
  });

  it("the default TTL is 60 s and ttlMs: 0 disables the positive cache", async () => {
    const time = clock();
    const db = allowAll();
    const auth = new AuthPipeline({ chain: [{ provider: db }], throttle: false, now: time.now });
    await auth.decide(attempt("alice", "pw"));
    time.advance(AUTH_PIPELINE_DEFAULTS.cache.ttlMs - 1);
    await auth.decide(attempt("alice", "pw"));
    assert.equal(db.calls.length, 1);
    time.advance(1);
    await auth.decide(attempt("alice", "pw"));
    assert.equal(db.calls.length, 2);

    const uncached = allowAll();
    const off = new AuthPipeline({ chain: [{ provider: uncached }], cache: { ttlMs: 0 }, throttle: false });
    await off.decide(attempt("alice", "pw"));
    await off.decide(attempt("alice", "pw"));
    assert.equal(uncached.calls.length, 2);
  });

  it("is a bounded LRU: beyond maxEntries the least recently used entry goes", async () => {
    const db = allowAll();
    const auth = new AuthPipeline({ chain: [{ provider: db }], cache: { maxEntries: 2 }, throttle: false });
    await auth.decide(attempt("a", "1"));
    await auth.decide(attempt("b", "2"));
    assert.equal((await auth.decide(attempt("a", "1"))).cached, true, "a is now the most recently used");
    await auth.decide(attempt("c", "3")); // evicts b
    assert.equal(db.calls.length, 3);
    assert.equal((await auth.decide(attempt("a", "1"))).cached, true);
    assert.equal((await auth.decide(attempt("c", "3"))).cached, true);
    assert.equal((await auth.decide(attempt("b", "2"))).cached, undefined, "b was evicted");
    assert.equal(db.calls.length, 4);
    assert.match(inspect(auth, { depth: 4 }), /Map\(2\)/);
  });

  it("denials are not cached by default", async () => {
    const db = denyAll();
    const auth = new AuthPipeline({ chain: [{ provider: db }], throttle: false });
    await auth.decide(attempt("alice", "wrong"));
    await auth.decide(attempt("alice", "wrong"));
    assert.equal(db.calls.length, 2);
  });

  it("bad-credentials denials are cached for cache.negativeTtlMs when it is set", async () => {
    const time = clock();
    const db = denyAll("db");
    const auth = new AuthPipeline({
      chain: [{ provider: db }],
      cache: { negativeTtlMs: 500 },
      throttle: false,
      now: time.now,
    });
    await auth.decide(attempt("alice", "wrong"));
    const cached = await auth.decide(attempt("alice", "wrong"));
    assert.equal(reasonOf(cached), "bad_credentials");
    assert.equal(cached.cached, true);
    assert.equal(cached.provider, "db");
    assert.equal(db.calls.length, 1);
    time.advance(500);
    await auth.decide(attempt("alice", "wrong"));
    assert.equal(db.calls.length, 2);
  });

  const errors: [string, () => TestProvider][] = [
    ["a backend error", () => broken()],
    ["an invalid response", () => provider("invalid", () => null as unknown as AuthResult)],
    ["a timeout", () => hanging()],
  ];
  for (const [label, make] of errors) {
    it(`${label} is never cached, even with a negative TTL`, async () => {
      const failing = make();
      const auth = new AuthPipeline({
        chain: [{ provider: failing }],
        cache: { negativeTtlMs: 60_000 },
        throttle: false,
        timeoutMs: 30,
      });
      const first = await auth.decide(attempt("alice", "pw"));
      const second = await auth.decide(attempt("alice", "pw"));
      assert.equal(first.allowed, false);
      assert.equal(second.cached, undefined);
      assert.equal(failing.calls.length, 2);
    });
  }

  it("never holds the plaintext: entries are keyed by an HMAC under a per-pipeline random key", async () => {
    const username = "alice-the-user";
    const password = "pw-PLAINTEXT-4711";
    const keysOf = async (): Promise<string[]> => {
      // A provider that keeps nothing, so whatever the dump shows is the pipeline's own storage.
      const forgetful: AuthProvider = { name: "forgetful", authenticate: () => Promise.resolve(true) };
      const auth = new AuthPipeline({ chain: [{ provider: forgetful }], throttle: false });
      await auth.decide(attempt(username, password));
      const dump = inspect(auth, { depth: Infinity, showHidden: true, maxArrayLength: null, maxStringLength: null });
      assert.ok(!dump.includes(password), "the password is stored in the pipeline");
      assert.ok(!dump.includes(Buffer.from(password).toString("hex")), "the password is stored hex-encoded");
      assert.ok(!dump.includes(Buffer.from(password).toString("base64")), "the password is stored base64-encoded");
      assert.match(dump, /Map\(1\)/, "one cache entry");
      return [...dump.matchAll(/'([A-Za-z0-9_-]{43})'/g)].map((match) => match[1]!);
    };
    const [firstKeys, secondKeys] = [await keysOf(), await keysOf()];
    assert.equal(firstKeys.length, 1, `expected exactly one 256-bit key, saw ${String(firstKeys.length)}`);
    assert.equal(secondKeys.length, 1);
    assert.notEqual(firstKeys[0], secondKeys[0], "two pipelines derived the same key: it is not secret-keyed");
    for (const input of [`${username}${password}`, `${username}:${password}`, `${username}\0${password}`]) {
      assert.notEqual(firstKeys[0], createHash("sha256").update(input).digest("base64url"), "an unkeyed hash");
    }
  });
});

describe("AuthPipeline: coalescing identical attempts", () => {
  it("100 concurrent identical attempts make exactly 1 provider call and all get the same decision", async () => {
    const gated = gate();
    const auth = pipeline({ chain: [{ provider: gated.provider }] });
    const pending = Array.from({ length: 100 }, (_, index) =>
      auth.decide(attempt("alice", "pw", `10.0.${String(index)}.1:5000`)),
    );
    await flush();
    assert.equal(gated.provider.calls.length, 1);
    gated.open({ identities: [{ identity: "alice", context: "ProxyAuthRfc1929" }], groups: ["staff"] });
    const decisions = await Promise.all(pending);
    assert.equal(gated.provider.calls.length, 1);
    for (const decision of decisions) {
      assert.deepEqual(decision, decisions[0]);
      assert.equal(decision.allowed, true);
    }
  });

  it("different passwords are not coalesced", async () => {
    const gated = gate();
    const auth = pipeline({ chain: [{ provider: gated.provider }] });
    const pending = [auth.decide(attempt("alice", "one")), auth.decide(attempt("alice", "two"))];
    await flush();
    assert.equal(gated.provider.calls.length, 2);
    gated.open(true);
    await Promise.all(pending);
  });

  it("a caller that aborts leaves at once; the shared call goes on for the others", async () => {
    const gated = gate();
    const auth = pipeline({ chain: [{ provider: gated.provider }] });
    const leaving = new AbortController();
    const staying = new AbortController();
    const left = auth.decide(attempt("alice", "pw"), leaving.signal);
    const stays = auth.decide(attempt("alice", "pw"), staying.signal);
    const noSignal = auth.decide(attempt("alice", "pw"));
    await flush();
    leaving.abort(new Error("client left"));
    assert.equal(reasonOf(await left), "aborted");
    assert.equal(gated.provider.calls.length, 1);
    assert.equal(gated.provider.calls[0]?.signal.aborted, false, "one caller's abort reached the shared call");
    gated.open(true);
    assert.equal((await stays).allowed, true);
    assert.equal((await noSignal).allowed, true);
    assert.equal(gated.provider.calls.length, 1);
  });

  it("when every caller has left, the shared call is aborted and a new attempt starts afresh", async () => {
    const slow = hanging();
    const auth = pipeline({ chain: [{ provider: slow }] });
    const controllers = [new AbortController(), new AbortController()];
    const pending = controllers.map((controller) => auth.decide(attempt("alice", "pw"), controller.signal));
    await flush();
    for (const controller of controllers) controller.abort();
    for (const decision of await Promise.all(pending)) assert.equal(reasonOf(decision), "aborted");
    assert.equal(slow.calls[0]?.signal.aborted, true);
    void auth.decide(attempt("alice", "pw"), AbortSignal.timeout(20));
    await flush();
    assert.equal(slow.calls.length, 2, "the next attempt joined an abandoned call");
  });
});

/** One-time codes: each code in `codes` allows `username` once, then it is used up. */
function oneTimeCodes(name: string, username: string, codes: readonly string[], reusable?: false): TestProvider {
  const unused = new Set(codes);
  const codeProvider = provider(name, (request) => request.username === username && unused.delete(request.password));
  return reusable === undefined ? codeProvider : Object.assign(codeProvider, { reusable });
}

describe("AuthPipeline: providers and answers that opt out of reuse (one-time codes)", () => {
  const cache = { ttlMs: 60_000, negativeTtlMs: 60_000 };

  it("reusable: false: a repeated attempt is not answered from the cache; the used code is denied", async () => {
    const codes = oneTimeCodes("otp", "alice", ["111111"], false);
    const auth = new AuthPipeline({ chain: [{ provider: codes }], cache, throttle: false });
    const first = await auth.decide(attempt("alice", "111111"));
    assert.equal(first.allowed, true);
    assert.equal(first.reusable, false);
    const replay = await auth.decide(attempt("alice", "111111"));
    assert.equal(reasonOf(replay), "bad_credentials");
    assert.equal(replay.cached, undefined);
    const again = await auth.decide(attempt("alice", "111111"));
    assert.equal(again.cached, undefined, "its denial is not cached either");
    assert.equal(codes.calls.length, 3);
    assert.equal(auth.cachedDecisions, 0);
  });

  it("the same provider without the opt-out has its answer cached: the replay is allowed", async () => {
    const codes = oneTimeCodes("otp", "alice", ["111111"]);
    const auth = new AuthPipeline({ chain: [{ provider: codes }], cache, throttle: false });
    await auth.decide(attempt("alice", "111111"));
    const replay = await auth.decide(attempt("alice", "111111"));
    assert.equal(replay.allowed, true);
    assert.equal(replay.cached, true);
    assert.equal(codes.calls.length, 1);
  });

  it("reusable: false: two identical concurrent attempts each reach the provider, at the same time", async () => {
    const gated = gate("otp");
    Object.assign(gated.provider, { reusable: false });
    const auth = new AuthPipeline({ chain: [{ provider: gated.provider }], cache, throttle: false });
    const pending = [auth.decide(attempt("alice", "222222")), auth.decide(attempt("alice", "222222"))];
    await flush();
    assert.equal(gated.provider.calls.length, 2, "not coalesced");
    assert.equal(gated.maxActive(), 2);
    gated.open(false);
    const decisions = await Promise.all(pending);
    assert.deepEqual(decisions.map(reasonOf), ["bad_credentials", "bad_credentials"]);
  });

  it("a real one-time code in two identical concurrent attempts allows exactly one of them", async () => {
    const codes = oneTimeCodes("otp", "alice", ["333333"], false);
    const auth = new AuthPipeline({ chain: [{ provider: codes }], cache, throttle: false });
    const decisions = await Promise.all([
      auth.decide(attempt("alice", "333333")),
      auth.decide(attempt("alice", "333333")),
    ]);
    assert.deepEqual(decisions.map(reasonOf).sort(), ["allowed", "bad_credentials"]);
    assert.equal(codes.calls.length, 2);
  });

  it("per decision: an AuthInfo with reusable: false is neither cached nor shared with a coalesced attempt", async () => {
    const gated = gate("totp");
    const auth = new AuthPipeline({ chain: [{ provider: gated.provider }], cache, throttle: false });
    const pending = [auth.decide(attempt("alice", "444444")), auth.decide(attempt("alice", "444444"))];
    await flush();
    assert.equal(gated.provider.calls.length, 1, "the provider did not opt out: identical attempts share a call");
    gated.open({ identities: [{ identity: "alice", context: "ProxyAuthRfc1929" }], reusable: false });
    const decisions = await Promise.all(pending);
    assert.equal(gated.provider.calls.length, 2, "the second attempt asked again instead of taking the first's answer");
    for (const decision of decisions) {
      assert.equal(decision.allowed, true);
      assert.equal(decision.reusable, false);
    }
    await auth.decide(attempt("alice", "444444"));
    assert.equal(gated.provider.calls.length, 3, "not answered from the cache");
    assert.equal(auth.cachedDecisions, 0);
  });

  it("per decision: AuthInfo.reusable must be a boolean", async () => {
    const odd = provider(
      "odd",
      () => ({ identities: [{ identity: "a", context: "GenericAuth" }], reusable: "no" }) as never,
    );
    const decision = await pipeline({ chain: [{ provider: odd }] }).decide(attempt("alice", "pw"));
    assert.equal(reasonOf(decision), "invalid_response");
  });

  it("other providers in the chain keep caching; a denial that rests on a one-time provider is not cached", async () => {
    const codes = oneTimeCodes("otp", "alice", [], false);
    const users = passwords("users", { bob: "bob-pw" });
    const auth = new AuthPipeline({ chain: [{ provider: codes }, { provider: users }], cache, throttle: false });
    await auth.decide(attempt("bob", "bob-pw"));
    const cached = await auth.decide(attempt("bob", "bob-pw"));
    assert.equal(cached.allowed, true);
    assert.equal(cached.cached, true);
    assert.equal(users.calls.length, 1);
    await auth.decide(attempt("bob", "wrong"));
    const denied = await auth.decide(attempt("bob", "wrong"));
    assert.equal(reasonOf(denied), "bad_credentials");
    assert.equal(denied.cached, undefined);
    assert.equal(users.calls.length, 3);

    const alone = passwords("users", { bob: "bob-pw" });
    const plain = new AuthPipeline({ chain: [{ provider: alone }], cache, throttle: false });
    await plain.decide(attempt("bob", "wrong"));
    assert.equal((await plain.decide(attempt("bob", "wrong"))).cached, true, "without it, the denial is cached");
  });
});

describe("AuthPipeline: concurrency cap and queue", () => {
  it("maxConcurrent calls at most, then a queue; a full queue is refused at once (overloaded)", async () => {
    const gated = gate("capped");
    const auth = pipeline({ chain: [{ provider: gated.provider, maxConcurrent: 2, maxQueue: 3 }] });
    const admitted = Array.from({ length: 5 }, (_, index) => auth.decide(attempt(`user${String(index)}`, "pw")));
    await flush();
    assert.equal(gated.provider.calls.length, 2, "more calls than the cap");
    const started = Date.now();
    const refused = await auth.decide(attempt("late", "pw"));
    assert.ok(Date.now() - started < 50, "the refusal waited");
    assert.equal(reasonOf(refused), "overloaded");
    assert.equal(refused.provider, "capped");
    assert.equal(gated.provider.calls.length, 2, "the refused attempt reached the provider");
    gated.open(true);
    for (const decision of await Promise.all(admitted)) assert.equal(decision.allowed, true);
    assert.equal(gated.provider.calls.length, 5);
    assert.equal(gated.maxActive(), 2, "the provider ran more calls at once than the cap");
  });

  it("holds the slot until the provider really settles, even after the deadline", async () => {
    let release: (() => void) | undefined;
    const sticky = provider("sticky", () => new Promise<AuthResult>((resolve) => (release = () => resolve(true))));
    const auth = pipeline({ chain: [{ provider: sticky, maxConcurrent: 1, maxQueue: 0 }], timeoutMs: 30 });
    assert.equal(reasonOf(await auth.decide(attempt("a", "1"))), "backend_timeout");
    assert.equal(reasonOf(await auth.decide(attempt("b", "2"))), "overloaded");
    release?.();
    await flush();
    const third = auth.decide(attempt("c", "3"));
    await flush();
    assert.equal(sticky.calls.length, 2, "the slot was not freed when the provider settled");
    release?.();
    assert.equal((await third).allowed, true);
  });

  it("a queued caller whose signal aborts leaves the queue", async () => {
    const gated = gate();
    const auth = pipeline({ chain: [{ provider: gated.provider, maxConcurrent: 1, maxQueue: 1 }] });
    const running = auth.decide(attempt("a", "1"));
    const controller = new AbortController();
    const queued = auth.decide(attempt("b", "2"), controller.signal);
    await flush();
    assert.equal(reasonOf(await auth.decide(attempt("c", "3"))), "overloaded");
    controller.abort();
    assert.equal(reasonOf(await queued), "aborted");
    const next = auth.decide(attempt("d", "4"));
    await flush();
    gated.open(true);
    assert.equal((await running).allowed, true);
    assert.equal((await next).allowed, true, "the aborted caller still held its place in the queue");
    assert.deepEqual(
      gated.provider.calls.map((call) => call.request.username),
      ["a", "d"],
    );
  });

  it("a wait longer than the deadline is overloaded; the limit is per provider", async () => {
    const gated = gate("busy");
    const spare = allowAll("spare");
    const auth = pipeline({
      chain: [{ provider: gated.provider, maxConcurrent: 1, onError: "next" }, { provider: spare }],
      timeoutMs: 40,
    });
    const first = auth.decide(attempt("a", "1"));
    await flush();
    const second = await auth.decide(attempt("b", "2"));
    assert.equal(second.allowed, true, "the queue timeout passed to the next provider");
    assert.equal(second.provider, "spare");
    assert.equal(gated.provider.calls.length, 1);
    gated.open(true);
    await first;
  });
});

describe("AuthPipeline: failure throttling", () => {
  const throttle = { maxFailures: 3, windowMs: 10_000, blockMs: 30_000 };

  function throttled(db: AuthProvider, time = clock()): AuthPipeline {
    return new AuthPipeline({ chain: [{ provider: db }], cache: false, throttle, now: time.now });
  }

  it("per client address: after maxFailures the address is refused without asking the provider", async () => {
    const db = passwords("db", { alice: "right" });
    const auth = throttled(db);
    for (let i = 0; i < 3; i++) {
      assert.equal(
        reasonOf(await auth.decide(attempt(`user${String(i)}`, "x", `10.0.0.1:${String(5000 + i)}`))),
        "bad_credentials",
      );
    }
    const refused = await auth.decide(attempt("alice", "right", "10.0.0.1:6000"));
    assert.equal(reasonOf(refused), "throttled");
    assert.equal(refused.provider, undefined);
    assert.equal(db.calls.length, 3, "the provider was asked while throttled");
    assert.equal((await auth.decide(attempt("alice", "right", "10.0.0.2:6000"))).allowed, true, "another address");
  });

  it("IPv6 peers are grouped by address, not by port", async () => {
    const db = denyAll();
    const auth = throttled(db);
    for (let i = 0; i < 3; i++) await auth.decide(attempt(`u${String(i)}`, "x", `[2001:db8::7]:${String(5000 + i)}`));
    assert.equal(reasonOf(await auth.decide(attempt("v", "x", "[2001:db8::7]:9000"))), "throttled");
    assert.equal(reasonOf(await auth.decide(attempt("v", "x", "[2001:db8::8]:9000"))), "bad_credentials");
  });

  it("per username, across addresses and letter case: refused only to the addresses that failed for it", async () => {
    const db = passwords("db", { bob: "right" });
    const auth = throttled(db);
    for (let i = 0; i < 3; i++) await auth.decide(attempt("bob", "wrong", `10.1.0.${String(i)}:5000`));
    const refused = await auth.decide(attempt("bob", "right", "10.1.0.0:5001"));
    assert.equal(reasonOf(refused), "throttled");
    assert.match((!refused.allowed && refused.detail) || "", /username/);
    assert.equal(reasonOf(await auth.decide(attempt("BOB", "right", "10.1.0.1:5001"))), "throttled");
    assert.equal(db.calls.length, 3, "a suspect address reached the provider");
    const fresh = await auth.decide(attempt("bob", "right", "10.2.0.1:5000"));
    assert.equal(fresh.allowed, true, "an address that never failed for bob is still asked");
  });

  it("a blocked client cannot use the cache either", async () => {
    const time = clock();
    const db = passwords("db", { alice: "right" });
    const auth = new AuthPipeline({ chain: [{ provider: db }], throttle, now: time.now });
    assert.equal((await auth.decide(attempt("alice", "right", "10.0.0.1:1"))).allowed, true);
    for (let i = 0; i < 3; i++) await auth.decide(attempt("alice", `guess${String(i)}`, "10.0.0.9:1"));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "right", "10.0.0.9:2"))), "throttled");
  });

  it("a success resets the count for the username and the address", async () => {
    const db = passwords("db", { alice: "right" });
    const auth = throttled(db);
    for (let round = 0; round < 3; round++) {
      await auth.decide(attempt("alice", "wrong"));
      await auth.decide(attempt("alice", "wrong"));
      assert.equal((await auth.decide(attempt("alice", "right"))).allowed, true, `round ${String(round)}`);
    }
    assert.equal(db.calls.length, 9);
  });

  it("a success that was already in flight does not lift a block that began meanwhile", async () => {
    let answerAlice: ((result: AuthResult) => void) | undefined;
    const db = provider("db", ({ username }) =>
      username === "alice" ? new Promise<AuthResult>((resolve) => (answerAlice = resolve)) : false,
    );
    const auth = throttled(db);
    const alice = auth.decide(attempt("alice", "right", "10.0.0.1:1"));
    for (let i = 0; i < 3; i++) await auth.decide(attempt(`guess${String(i)}`, "x", "10.0.0.1:2"));
    answerAlice?.(true);
    assert.equal((await alice).allowed, true);
    assert.equal(reasonOf(await auth.decide(attempt("carol", "x", "10.0.0.1:3"))), "throttled");
  });

  it("backend errors and timeouts do not count as failures", async () => {
    const failing = provider("failing", () => Promise.reject(new Error("ldap down")));
    const auth = throttled(failing);
    for (let i = 0; i < 10; i++) assert.equal(reasonOf(await auth.decide(attempt("alice", "pw"))), "backend_error");
    assert.equal(failing.calls.length, 10);
  });

  it("failures older than windowMs do not add up", async () => {
    const time = clock();
    const db = denyAll();
    const auth = throttled(db, time);
    for (let i = 0; i < 6; i++) {
      assert.equal(reasonOf(await auth.decide(attempt("alice", "x"))), "bad_credentials", `attempt ${String(i)}`);
      time.advance(5_001); // two failures per window at most
    }
  });

  it("the block ends after blockMs", async () => {
    const time = clock();
    const db = passwords("db", { alice: "right" });
    const auth = throttled(db, time);
    for (let i = 0; i < 3; i++) await auth.decide(attempt("alice", "x"));
    time.advance(29_999);
    assert.equal(reasonOf(await auth.decide(attempt("alice", "right"))), "throttled");
    time.advance(1);
    assert.equal((await auth.decide(attempt("alice", "right"))).allowed, true);
  });

  it("defaults: 10 failures within a minute block for a minute; throttle: false disables it", async () => {
    const time = clock();
    const db = denyAll();
    const auth = new AuthPipeline({ chain: [{ provider: db }], now: time.now });
    for (let i = 0; i < AUTH_PIPELINE_DEFAULTS.throttle.maxFailures; i++) await auth.decide(attempt("alice", "x"));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "x"))), "throttled");
    time.advance(AUTH_PIPELINE_DEFAULTS.throttle.blockMs);
    assert.equal(reasonOf(await auth.decide(attempt("alice", "x"))), "bad_credentials");

    const unthrottled = new AuthPipeline({ chain: [{ provider: denyAll() }], throttle: false });
    for (let i = 0; i < 30; i++)
      assert.equal(reasonOf(await unthrottled.decide(attempt("alice", "x"))), "bad_credentials");
  });

  it("tracks at most maxTracked keys, forgetting the least recently failed", async () => {
    const db = denyAll();
    const auth = new AuthPipeline({
      chain: [{ provider: db }],
      cache: false,
      throttle: { ...throttle, maxTracked: 2 },
    });
    await auth.decide(attempt("alice", "x", "10.0.0.1:1"));
    await auth.decide(attempt("alice", "x", "10.0.0.1:1"));
    for (let i = 2; i < 50; i++) await auth.decide(attempt(`user${String(i)}`, "x", `10.0.1.${String(i)}:1`));
    // alice (2 failures) and 10.0.0.1 were forgotten: a third failure does not block them.
    await auth.decide(attempt("alice", "x", "10.0.0.1:1"));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "x", "10.0.0.1:1"))), "bad_credentials");
    const dump = inspect(auth, { depth: 4 });
    assert.doesNotMatch(dump, /Map\((?:[3-9]|\d{2,})\)/, "more keys tracked than maxTracked");
  });
});

describe("AuthPipeline: smart lockout (a blocked username is refused only to suspect addresses)", () => {
  const throttle = { maxFailures: 3, windowMs: 10_000, blockMs: 30_000 };
  const ALICE = { alice: "right" };

  function smart(time: ReturnType<typeof clock>, more: { familiarMs?: number; maxTracked?: number } = {}) {
    const db = passwords("db", ALICE);
    const auth = new AuthPipeline({
      chain: [{ provider: db }],
      cache: false,
      throttle: { ...throttle, ...more },
      now: time.now,
    });
    return { db, auth };
  }

  it("guessers from several addresses block the username for themselves, not for the user elsewhere", async () => {
    const time = clock();
    const { db, auth } = smart(time);
    for (const guesser of ["10.6.0.1", "10.6.0.2", "10.6.0.3"]) {
      assert.equal(reasonOf(await auth.decide(attempt("alice", "guess", `${guesser}:1`))), "bad_credentials");
    }
    for (const guesser of ["10.6.0.1", "10.6.0.2", "10.6.0.3"]) {
      const refused = await auth.decide(attempt("alice", "right", `${guesser}:2`));
      assert.equal(reasonOf(refused), "throttled", `${guesser} even with the right password`);
    }
    assert.equal(db.calls.length, 3, "suspect addresses never reached the provider");
    assert.equal((await auth.decide(attempt("alice", "right", "10.9.0.1:1"))).allowed, true, "a clean address");
    time.advance(throttle.blockMs);
    assert.equal((await auth.decide(attempt("alice", "right", "10.6.0.1:3"))).allowed, true, "the block ran out");
  });

  it("a fresh address that fails during the block becomes suspect at once", async () => {
    const time = clock();
    const { auth } = smart(time);
    for (let i = 1; i <= 3; i++) await auth.decide(attempt("alice", "guess", `10.6.0.${String(i)}:1`));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "guess", "10.7.0.1:1"))), "bad_credentials");
    assert.equal(reasonOf(await auth.decide(attempt("alice", "right", "10.7.0.1:2"))), "throttled");
  });

  it("while the username is blocked, an address that has not failed gets one attempt in flight, not a burst", async () => {
    const time = clock();
    let answer: ((result: AuthResult) => void) | undefined;
    const db = provider("db", ({ password }) =>
      password === "slow" ? new Promise<AuthResult>((resolve) => (answer = resolve)) : false,
    );
    const auth = new AuthPipeline({ chain: [{ provider: db }], cache: false, throttle, now: time.now });
    for (let i = 1; i <= 3; i++) await auth.decide(attempt("alice", "guess", `10.6.0.${String(i)}:1`));
    const first = auth.decide(attempt("alice", "slow", "10.7.0.1:1"));
    const burst = await Promise.all([1, 2, 3].map((i) => auth.decide(attempt("alice", `g${String(i)}`, "10.7.0.1:2"))));
    assert.deepEqual(burst.map(reasonOf), ["throttled", "throttled", "throttled"]);
    assert.equal(reasonOf(await auth.decide(attempt("alice", "x", "10.7.0.2:1"))), "bad_credentials", "per address");
    answer?.(new Error("backend hiccup") as unknown as AuthResult);
    assert.notEqual(reasonOf(await first), "bad_credentials");
    assert.equal(db.calls.length, 5);
    // Not a bad-credential failure: the address is not suspect, its next attempt is asked.
    assert.equal(reasonOf(await auth.decide(attempt("alice", "wrong", "10.7.0.1:3"))), "bad_credentials");
    assert.equal(reasonOf(await auth.decide(attempt("alice", "wrong", "10.7.0.1:4"))), "throttled");
  });

  it("a familiar address (a login within familiarMs) gets through even after its own typo", async () => {
    const time = clock();
    const { auth } = smart(time, { familiarMs: 60_000 });
    assert.equal((await auth.decide(attempt("alice", "right", "10.5.0.1:1"))).allowed, true);
    time.advance(1000);
    assert.equal(reasonOf(await auth.decide(attempt("alice", "typo", "10.5.0.1:2"))), "bad_credentials");
    for (let i = 1; i <= 2; i++) await auth.decide(attempt("alice", "guess", `10.6.0.${String(i)}:1`));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "guess", "10.6.0.1:3"))), "throttled", "blocked");
    assert.equal((await auth.decide(attempt("alice", "right", "10.5.0.1:3"))).allowed, true, "familiar wins");
  });

  it("familiarity runs out after familiarMs; then an address that failed is suspect like any other", async () => {
    const time = clock();
    const { auth } = smart(time, { familiarMs: 2000 });
    assert.equal((await auth.decide(attempt("alice", "right", "10.5.0.1:1"))).allowed, true);
    time.advance(2001);
    await auth.decide(attempt("alice", "typo", "10.5.0.1:2"));
    for (let i = 1; i <= 2; i++) await auth.decide(attempt("alice", "guess", `10.6.0.${String(i)}:1`));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "right", "10.5.0.1:3"))), "throttled");
  });

  it("a success from one address does not reset the count that guessers elsewhere built", async () => {
    const time = clock();
    const { auth } = smart(time);
    await auth.decide(attempt("alice", "guess", "10.6.0.1:1"));
    await auth.decide(attempt("alice", "guess", "10.6.0.2:1"));
    assert.equal((await auth.decide(attempt("alice", "right", "10.5.0.1:1"))).allowed, true);
    await auth.decide(attempt("alice", "guess", "10.6.0.3:1"));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "right", "10.6.0.1:2"))), "throttled");
    assert.equal((await auth.decide(attempt("alice", "right", "10.5.0.1:2"))).allowed, true);
  });

  it("a user's own typos are forgotten when that address logs in", async () => {
    const time = clock();
    const { auth } = smart(time);
    await auth.decide(attempt("alice", "typo", "10.5.0.1:1"));
    await auth.decide(attempt("alice", "typo", "10.5.0.1:2"));
    assert.equal((await auth.decide(attempt("alice", "right", "10.5.0.1:3"))).allowed, true);
    await auth.decide(attempt("alice", "guess", "10.6.0.1:1"));
    await auth.decide(attempt("alice", "guess", "10.6.0.2:1"));
    assert.equal(
      reasonOf(await auth.decide(attempt("alice", "right", "10.6.0.1:2"))),
      "allowed",
      "2 failures count, not 4",
    );
  });

  it("a failure older than window + block does not make an address suspect in a later block", async () => {
    const time = clock();
    const { auth } = smart(time);
    await auth.decide(attempt("alice", "guess", "10.6.0.9:1"));
    time.advance(throttle.windowMs + throttle.blockMs + 1);
    for (let i = 1; i <= 3; i++) await auth.decide(attempt("alice", "guess", `10.6.0.${String(i)}:1`));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "right", "10.6.0.1:2"))), "throttled", "blocked");
    assert.equal((await auth.decide(attempt("alice", "right", "10.6.0.9:2"))).allowed, true);
  });

  it("the familiar and suspect tables hold at most maxTracked pairs", async () => {
    const time = clock();
    const db = provider("db", ({ password }) => password === "right");
    const auth = new AuthPipeline({
      chain: [{ provider: db }],
      cache: false,
      throttle: { ...throttle, maxFailures: 1000, maxTracked: 2 },
      now: time.now,
    });
    for (let i = 0; i < 40; i++) {
      await auth.decide(attempt(`user${String(i)}`, "right", `10.8.0.${String(i)}:1`));
      await auth.decide(attempt(`user${String(i)}`, "wrong", `10.9.0.${String(i)}:1`));
    }
    const dump = inspect(auth, { depth: 6 });
    assert.match(dump, /Map\(2\)/);
    assert.doesNotMatch(dump, /Map\((?:[3-9]|\d{2,})\)/, "more entries than maxTracked");
  });
});

describe("AuthPipeline: secrets and robustness", () => {
  it("the password never appears in any decision", async () => {
    const secret = "pw-SECRET-9f3a";
    const leaky = (name: string, error: () => never): TestProvider => provider(name, () => error());
    const time = clock();
    const chains: AuthPipelineOptions[] = [
      {
        chain: [
          {
            provider: leaky("throws", () => {
              throw new Error(`bind failed with ${secret}`);
            }),
          },
        ],
      },
      {
        chain: [
          { provider: provider("rejects", (req) => Promise.reject(new Error(`bad ${req.password} ${req.password}`))) },
        ],
      },
      {
        chain: [
          {
            provider: provider(
              "invalid",
              (req) => ({ identities: [{ identity: req.password, context: "Nope" }] }) as unknown as AuthResult,
            ),
          },
        ],
      },
      {
        chain: [
          { provider: provider("a", (req) => Promise.reject(new Error(req.password))), onError: "next" },
          { provider: denyAll("b") },
        ],
      },
      { chain: [{ provider: hanging() }], timeoutMs: 20 },
      { chain: [{ provider: allowAll() }] },
      { chain: [{ provider: denyAll() }], cache: { negativeTtlMs: 1000 }, throttle: { maxFailures: 1 }, now: time.now },
    ];
    const decisions: AuthDecision[] = [];
    for (const options of chains) {
      const auth = new AuthPipeline(options);
      decisions.push(await auth.decide(attempt("alice", secret)), await auth.decide(attempt("alice", secret)));
    }
    const capped = new AuthPipeline({
      chain: [{ provider: hanging(), maxConcurrent: 1, maxQueue: 0 }],
      cache: false,
      timeoutMs: 50,
    });
    const holdingTheSlot = capped.decide(attempt("alice", `${secret}-1`));
    decisions.push(await capped.decide(attempt("alice", secret)));
    const controller = new AbortController();
    controller.abort();
    decisions.push(
      await new AuthPipeline({ chain: [{ provider: allowAll() }] }).decide(attempt("alice", secret), controller.signal),
      await holdingTheSlot,
    );
    assert.deepEqual(decisions.map(reasonOf), [
      "backend_error",
      "backend_error",
      "backend_error",
      "backend_error",
      "invalid_response",
      "invalid_response",
      "backend_error",
      "backend_error",
      "backend_timeout",
      "backend_timeout",
      "allowed",
      "allowed",
      "bad_credentials",
      "throttled",
      "overloaded",
      "aborted",
      "backend_timeout",
    ]);
    assert.ok(!JSON.stringify(decisions).includes(secret), JSON.stringify(decisions));
    assert.ok(JSON.stringify(decisions).includes("[REDACTED]"), "the diagnostics were dropped, not redacted");
  });

  it("never rejects, even when a provider's name getter throws", async () => {
    const weird = {
      get name(): string {
        throw new Error("no name");
      },
      authenticate: () => Promise.resolve(true),
    } as AuthProvider;
    const decision = await new AuthPipeline({ chain: [{ provider: weird }] }).decide(attempt("alice", "pw"));
    assert.equal(reasonOf(decision), "backend_error");
  });

  it("rejects bad options with every problem named", () => {
    assert.throws(
      () =>
        new AuthPipeline({
          chain: [{ provider: allowAll(), maxConcurrent: 0, maxQueue: -1 }],
          timeoutMs: 0,
          cache: { maxEntries: 1.5 },
          throttle: { maxFailures: 0, windowMs: -1 },
        }),
      (error: unknown) => {
        assert.ok(error instanceof AuthConfigError);
        assert.deepEqual(
          error.problems.map((problem) => problem.split(":")[0]),
          [
            "chain[0].maxConcurrent",
            "chain[0].maxQueue",
            "timeoutMs",
            "cache.maxEntries",
            "throttle.maxFailures",
            "throttle.windowMs",
          ],
        );
        return true;
      },
    );
  });
});

describe("createProxyServer auth options", () => {
  const listeners = [{ listen: "127.0.0.1:0" }];

  it("durations are checked and reported by their config path", () => {
    assert.throws(
      () =>
        createProxyServer({
          listeners,
          auth: { provider: allowAll(), timeout: "soon", cache: { ttl: -5 }, throttle: { block: "1 day" } },
        }),
      (error: unknown) => {
        assert.ok(error instanceof AuthConfigError);
        assert.deepEqual(
          error.problems.map((problem) => problem.split(":")[0]),
          ["auth.timeout", "auth.cache.ttl", "auth.throttle.block"],
        );
        return true;
      },
    );
  });

  it("pipeline problems carry the auth. prefix; provider and chain together are refused", () => {
    assert.throws(
      () => createProxyServer({ listeners, auth: { chain: [{ provider: allowAll(), maxConcurrent: 0 }] } }),
      /auth\.chain\[0\]\.maxConcurrent/,
    );
    assert.throws(
      () =>
        createProxyServer({
          listeners,
          auth: { provider: allowAll(), chain: [] } as unknown as AuthOptions,
        }),
      /either provider or chain/,
    );
  });
});
