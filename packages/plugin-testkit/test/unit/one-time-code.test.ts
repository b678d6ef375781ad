import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { describe, it } from "node:test";
import { AuthPipeline } from "@gatehouse-proxy/core/engine";
import type { AuthProvider, AuthRequest, AuthResult } from "@gatehouse-proxy/core";
import { providerComplianceSuite } from "@gatehouse-proxy/plugin-testkit";
import type { ComplianceFixtures, TestRegistrar } from "@gatehouse-proxy/plugin-testkit";

type CheckBody = Parameters<TestRegistrar>[1];

/** The backend of one-time codes: codes issued per user, each accepted once. */
class CodeStore {
  private readonly unused = new Map<string, Set<string>>();
  broken = false;

  issue(username: string): string {
    const codes = this.unused.get(username) ?? new Set<string>();
    this.unused.set(username, codes);
    let code: string;
    do code = String(randomInt(0, 100_000_000)).padStart(8, "0");
    while (codes.has(code));
    codes.add(code);
    return code;
  }

  /** True once per issued code; a used or unknown code is false. */
  consume(username: string, code: string): boolean {
    if (this.broken) throw new Error("code store unavailable");
    return this.unused.get(username)?.delete(code) ?? false;
  }
}

/** A provider whose answers must never be reused: a code allows once, then it is spent. */
function oneTimeCodeProvider(store: CodeStore, options: { readonly reusable?: false } = { reusable: false }) {
  const provider: AuthProvider = {
    name: "otp",
    ...options,
    async authenticate({ username, password }: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
      // The backend answers on a later turn, as a database would.
      await new Promise((resolve) => setImmediate(resolve));
      signal.throwIfAborted();
      if (!store.consume(username, password)) return false;
      return { identities: [{ identity: username, context: "ProxyAuthRfc1929" }] };
    },
    health() {
      return store.broken ? Promise.reject(new Error("code store unavailable")) : Promise.resolve();
    },
  };
  return provider;
}

function fixtures(store: CodeStore): ComplianceFixtures {
  return {
    valid: { username: "alice", password: store.issue("alice") },
    nextValid: () => ({ username: "alice", password: store.issue("alice") }),
    wrongPassword: "not-a-code",
    unknownUser: "mallory",
    brokenFactory: () => {
      const broken = new CodeStore();
      broken.broken = true;
      return oneTimeCodeProvider(broken);
    },
  };
}

/** The suite's check bodies by name, to run one directly and see it fail. */
function checks(provider: () => AuthProvider, fixtures: ComplianceFixtures) {
  const registered = new Map<string, CheckBody>();
  providerComplianceSuite((name, fn) => registered.set(name.slice(0, name.indexOf(":")), fn), provider, fixtures);
  return registered;
}

describe("a one-time-code provider (reusable: false) passes the compliance suite", () => {
  const store = new CodeStore();
  providerComplianceSuite(it, () => oneTimeCodeProvider(store), fixtures(store));
});

describe("the compliance suite and one-time answers", () => {
  it("fails a provider with reusable: false when the fixtures give no nextValid", async () => {
    const store = new CodeStore();
    const { valid, wrongPassword, unknownUser } = fixtures(store);
    const allow = checks(() => oneTimeCodeProvider(store), { valid, wrongPassword, unknownUser }).get("allow")!;
    await assert.rejects(allow({}), /provider\.reusable is false.*nextValid/);
  });

  it("fails a one-time provider that accepts a used code again", async () => {
    const store = new CodeStore();
    const replayable: AuthProvider = {
      name: "otp",
      reusable: false,
      async authenticate({ username, password }) {
        await new Promise((resolve) => setImmediate(resolve));
        store.consume(username, password);
        return username === "alice" && /^\d{8}$/.test(password);
      },
    };
    const allow = checks(() => replayable, fixtures(store)).get("allow")!;
    await assert.rejects(allow({}), /one-time credential presented again after its use: ALLOWED/);
  });

  it("through the pipeline with a cache, a code allows exactly once, also for concurrent identical attempts", async () => {
    const store = new CodeStore();
    const auth = new AuthPipeline({
      chain: [{ provider: oneTimeCodeProvider(store) }],
      cache: { ttlMs: 60_000, negativeTtlMs: 60_000 },
      throttle: false,
    });
    const code = store.issue("alice");
    const connMeta = { peer_address: "127.0.0.1:40000", local_address: "127.0.0.1:1080" };
    const decisions = await Promise.all(
      Array.from({ length: 10 }, () => auth.decide({ username: "alice", password: code, connMeta })),
    );
    assert.equal(decisions.filter((decision) => decision.allowed).length, 1);
    const replay = await auth.decide({ username: "alice", password: code, connMeta });
    assert.equal(replay.allowed, false);
    assert.equal(replay.cached, undefined);
  });
});
