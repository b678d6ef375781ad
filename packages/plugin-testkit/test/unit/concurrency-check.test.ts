import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AuthProvider, AuthResult } from "@gatehouse-proxy/core";
import { providerComplianceSuite } from "@gatehouse-proxy/plugin-testkit";
import type { ComplianceFixtures, TestRegistrar } from "@gatehouse-proxy/plugin-testkit";

const FIXTURES: ComplianceFixtures = {
  valid: { username: "alice", password: "alice-pass" },
  wrongPassword: "wrong-pass",
  unknownUser: "mallory",
  concurrency: 200,
  timeoutMs: 400,
};

/**
 * Answers one call at a time, each after `workMs`, as a provider bound by a single KDF slot
 * would; the call numbered `hangAt` never answers.
 */
function serialProvider(workMs: number, hangAt?: number): AuthProvider {
  let queue: Promise<unknown> = Promise.resolve();
  let calls = 0;
  return {
    name: "serial",
    authenticate({ username, password }) {
      const index = calls++;
      if (index === hangAt) return new Promise<AuthResult>(() => undefined);
      const answer = queue.then(async () => {
        await new Promise((resolve) => setTimeout(resolve, workMs));
        return username === "alice" && password === "alice-pass";
      });
      queue = answer;
      return answer;
    },
  };
}

function concurrencyCheck(provider: AuthProvider): Parameters<TestRegistrar>[1] {
  let body: Parameters<TestRegistrar>[1] | undefined;
  providerComplianceSuite(
    (name, fn) => {
      if (name.startsWith("concurrency:")) body = fn;
    },
    () => provider,
    FIXTURES,
  );
  return body!;
}

describe("the concurrency check waits for a slow but steady provider and fails a hung one", () => {
  it("passes when the calls take far longer than timeoutMs in total but keep settling", async () => {
    const started = performance.now();
    await concurrencyCheck(serialProvider(5))({});
    // 200 calls × 5 ms one at a time: the last answer comes well after the 400 ms timeoutMs.
    assert.ok(performance.now() - started > 800);
  });

  it("fails when one call never settles, once no call has settled for timeoutMs", async () => {
    const started = performance.now();
    await assert.rejects(
      concurrencyCheck(serialProvider(1, 17))({}),
      /1 of 200 concurrent calls did not settle, and none settled for 400 ms/,
    );
    assert.ok(performance.now() - started < 30_000);
  });
});
