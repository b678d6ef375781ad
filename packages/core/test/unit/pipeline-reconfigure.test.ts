import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AuthConfigError } from "@gatehouse-proxy/core/engine";
import { AuthPipeline } from "../../dist/auth/pipeline.js";
import type { AuthDecision } from "@gatehouse-proxy/core/engine";
import type { AuthProvider, AuthRequest, AuthResult } from "@gatehouse-proxy/core";

// Real provider objects that count their calls, and a clock the tests move.

interface CountingProvider extends AuthProvider {
  calls: number;
}

function provider(name: string, answer: (request: AuthRequest) => Promise<AuthResult> | AuthResult): CountingProvider {
  const counted: CountingProvider = {
    name,
    calls: 0,
    authenticate(request) {
      counted.calls++;
      return Promise.resolve(answer(request));
    },
  };
  return counted;
}

const passwords = (name: string, table: Record<string, string>): CountingProvider =>
  provider(name, ({ username, password }) => Object.hasOwn(table, username) && table[username] === password);

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

const reasonOf = (decision: AuthDecision): string => (decision.allowed ? "allowed" : decision.reason);
const USERS = { alice: "alice-pw", bob: "bob-pw" };

describe("AuthPipeline.reconfigure: the throttle lives on", () => {
  it("an address blocked before a reconfigure stays blocked with a new provider instance", async () => {
    const time = clock();
    const auth = new AuthPipeline({ chain: [{ provider: passwords("a", USERS) }], cache: false, now: time.now });
    for (let i = 0; i < 10; i++)
      assert.equal(reasonOf(await auth.decide(attempt("alice", "wrong"))), "bad_credentials");
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "throttled");
    const fresh = passwords("a", USERS);
    await auth.reconfigure({ chain: [{ provider: fresh }], cache: false });
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "throttled");
    assert.equal(fresh.calls, 0, "a blocked client is refused before any provider is asked");
    assert.equal(reasonOf(await auth.decide(attempt("bob", "bob-pw", "10.0.0.2:1"))), "allowed");
    time.advance(60_001);
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "allowed", "the block still runs out");
  });

  it("a username blocked before a reconfigure stays blocked", async () => {
    const time = clock();
    const auth = new AuthPipeline({ chain: [{ provider: passwords("a", USERS) }], cache: false, now: time.now });
    // One failure from each of ten addresses: no address is blocked, the username is.
    for (let i = 1; i <= 10; i++) await auth.decide(attempt("bob", "wrong", `10.0.1.${String(i)}:5000`));
    await auth.reconfigure({ chain: [{ provider: passwords("a", USERS) }], cache: false });
    const after = await auth.decide(attempt("bob", "bob-pw", "10.0.1.1:5001"));
    assert.equal(reasonOf(after), "throttled");
    assert.match(after.allowed ? "" : (after.detail ?? ""), /username/);
  });

  it("new throttle limits apply to the failures already recorded", async () => {
    const time = clock();
    const chain = [{ provider: passwords("a", USERS) }];
    const auth = new AuthPipeline({ chain, cache: false, throttle: { maxFailures: 10 }, now: time.now });
    for (let i = 0; i < 3; i++) await auth.decide(attempt("alice", "wrong"));
    await auth.reconfigure({ chain, cache: false, throttle: { maxFailures: 4, blockMs: 5000 } });
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "allowed", "3 < 4: not blocked yet");
    for (let i = 0; i < 4; i++) await auth.decide(attempt("alice", "wrong"));
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "throttled");
    time.advance(5001);
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "allowed", "the new block length");
  });

  it("smart lockout keeps its suspect and familiar addresses across a reconfigure, under the new familiarMs", async () => {
    const time = clock();
    const chain = [{ provider: passwords("a", USERS) }];
    const throttle = { maxFailures: 3, familiarMs: 60_000 };
    const auth = new AuthPipeline({ chain, cache: false, throttle, now: time.now });
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw", "10.5.0.1:1"))), "allowed");
    await auth.decide(attempt("alice", "typo", "10.5.0.1:2"));
    for (let i = 1; i <= 2; i++) await auth.decide(attempt("alice", "wrong", `10.6.0.${String(i)}:1`));
    await auth.reconfigure({ chain, cache: false, throttle });
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw", "10.6.0.1:2"))), "throttled", "suspect");
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw", "10.5.0.1:3"))), "allowed", "familiar");
    time.advance(2000);
    await auth.decide(attempt("alice", "typo", "10.5.0.1:4"));
    await auth.reconfigure({ chain, cache: false, throttle: { ...throttle, familiarMs: 1000 } });
    assert.equal(
      reasonOf(await auth.decide(attempt("alice", "alice-pw", "10.5.0.1:5"))),
      "throttled",
      "the shorter familiarMs applies to the login already recorded",
    );
  });

  it("turning the throttle off forgets its record; on again starts clean", async () => {
    const time = clock();
    const chain = [{ provider: passwords("a", USERS) }];
    const auth = new AuthPipeline({ chain, cache: false, now: time.now });
    for (let i = 0; i < 10; i++) await auth.decide(attempt("alice", "wrong"));
    await auth.reconfigure({ chain, cache: false, throttle: false });
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "allowed");
    await auth.reconfigure({ chain, cache: false });
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "allowed");
  });

  it("invalid options throw with their paths and change nothing", async () => {
    const time = clock();
    const old = passwords("a", USERS);
    const auth = new AuthPipeline({ chain: [{ provider: old }], cache: false, now: time.now });
    for (let i = 0; i < 10; i++) await auth.decide(attempt("alice", "wrong"));
    assert.throws(
      () => auth.reconfigure({ chain: [{ provider: passwords("b", USERS) }], timeoutMs: -1 }),
      (error: unknown) => error instanceof AuthConfigError && /timeoutMs/.test(error.message),
    );
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "throttled");
    assert.equal(reasonOf(await auth.decide(attempt("bob", "bob-pw", "10.9.9.9:1"))), "allowed");
    assert.equal(old.calls, 11, "the old provider still answers");
  });
});

describe("AuthPipeline.reconfigure: the decision cache", () => {
  it("keeps the allows of a provider whose fingerprint is unchanged, and drops a changed one's", async () => {
    const time = clock();
    const first = passwords("db", USERS);
    const auth = new AuthPipeline({ chain: [{ provider: first, fingerprint: "v1" }], throttle: false, now: time.now });
    assert.equal(reasonOf(await auth.decide(attempt("alice", "alice-pw"))), "allowed");
    assert.equal(auth.cachedDecisions, 1);

    const same = passwords("db", USERS);
    await auth.reconfigure({ chain: [{ provider: same, fingerprint: "v1" }], throttle: false });
    const cached = await auth.decide(attempt("alice", "alice-pw"));
    assert.equal(cached.allowed && cached.cached, true, "answered from the cache");
    assert.equal(same.calls, 0);

    const changed = passwords("db", { alice: "new-pw" });
    await auth.reconfigure({ chain: [{ provider: changed, fingerprint: "v2" }], throttle: false });
    assert.equal(auth.cachedDecisions, 0);
    assert.equal(
      reasonOf(await auth.decide(attempt("alice", "alice-pw"))),
      "bad_credentials",
      "the old password is gone",
    );
    assert.equal(changed.calls, 1);
  });

  it("without fingerprints, only the same provider object keeps its decisions", async () => {
    const time = clock();
    const kept = passwords("db", USERS);
    const auth = new AuthPipeline({ chain: [{ provider: kept }], throttle: false, now: time.now });
    await auth.decide(attempt("alice", "alice-pw"));
    await auth.reconfigure({ chain: [{ provider: kept }], throttle: false });
    assert.equal(auth.cachedDecisions, 1);
    await auth.reconfigure({ chain: [{ provider: passwords("db", USERS) }], throttle: false });
    assert.equal(auth.cachedDecisions, 0);
  });

  it("a cached bad-credentials denial is dropped when the chain changes (a new provider might say yes)", async () => {
    const time = clock();
    const first = passwords("first", USERS);
    const chain = [{ provider: first, fingerprint: "first" }];
    const cache = { negativeTtlMs: 60_000 };
    const auth = new AuthPipeline({ chain, cache, throttle: false, now: time.now });
    assert.equal(reasonOf(await auth.decide(attempt("carol", "carol-pw"))), "bad_credentials");
    assert.equal(auth.cachedDecisions, 1);
    const second = passwords("second", { carol: "carol-pw" });
    await auth.reconfigure({ chain: [...chain, { provider: second, fingerprint: "second" }], cache, throttle: false });
    assert.equal(reasonOf(await auth.decide(attempt("carol", "carol-pw"))), "allowed");
    assert.equal(second.calls, 1);
  });

  it("a smaller max_entries evicts at once; cache: false forgets everything", async () => {
    const time = clock();
    const db = passwords("db", USERS);
    const auth = new AuthPipeline({ chain: [{ provider: db }], throttle: false, now: time.now });
    await auth.decide(attempt("alice", "alice-pw"));
    await auth.decide(attempt("bob", "bob-pw"));
    await auth.reconfigure({ chain: [{ provider: db }], cache: { maxEntries: 1 }, throttle: false });
    assert.equal(auth.cachedDecisions, 1);
    await auth.reconfigure({ chain: [{ provider: db }], cache: false, throttle: false });
    assert.equal(auth.cachedDecisions, 0);
  });
});

describe("AuthPipeline.reconfigure: logins in flight", () => {
  it("a login running on the old chain finishes there; the promise resolves once it settled", async () => {
    let release: ((result: AuthResult) => void) | undefined;
    const slow = provider("slow", () => new Promise<AuthResult>((resolve) => (release = resolve)));
    const auth = new AuthPipeline({ chain: [{ provider: slow }], cache: false, throttle: false });
    const inFlight = auth.decide(attempt("alice", "alice-pw"));
    await new Promise((resolve) => setImmediate(resolve));
    const next = passwords("next", USERS);
    let settled = false;
    const retired = auth.reconfigure({ chain: [{ provider: next }], cache: false, throttle: false }).then(() => {
      settled = true;
    });
    assert.equal(reasonOf(await auth.decide(attempt("bob", "bob-pw"))), "allowed", "new logins use the new chain");
    assert.equal(next.calls, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(settled, false, "the old chain is still busy");
    release?.(true);
    assert.equal(reasonOf(await inFlight), "allowed");
    await retired;
    assert.equal(settled, true);
    assert.equal(slow.calls, 1);
  });

  it("resolves at once when nothing runs on the old chain", async () => {
    const auth = new AuthPipeline({ chain: [{ provider: passwords("a", USERS) }] });
    const startedAt = Date.now();
    await auth.reconfigure({ chain: [{ provider: passwords("b", USERS) }] });
    assert.ok(Date.now() - startedAt < 50);
  });

  it("a provider that never settles holds the old chain no longer than its deadline plus the grace", async () => {
    const hanging = provider("hang", () => new Promise<AuthResult>(() => undefined));
    const auth = new AuthPipeline({ chain: [{ provider: hanging }], timeoutMs: 100, cache: false, throttle: false });
    const decision = auth.decide(attempt("alice", "alice-pw"));
    await new Promise((resolve) => setImmediate(resolve));
    const startedAt = Date.now();
    await auth.reconfigure({ chain: [{ provider: passwords("b", USERS) }], timeoutMs: 100 });
    const waitedMs = Date.now() - startedAt;
    assert.equal(reasonOf(await decision), "backend_timeout");
    assert.ok(waitedMs >= 1000 && waitedMs < 3000, `waited ${String(waitedMs)} ms`);
  });
});
