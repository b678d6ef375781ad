import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const RUN_SUITE = join(dirname(fileURLToPath(import.meta.url)), "..", "providers", "run-suite.js");

interface Run {
  readonly code: number | null;
  readonly output: string;
  /** Check name → passed? */
  readonly results: ReadonlyMap<string, boolean>;
}

/** Runs the suite in a child `node --test` (TAP output) against a provider with `faults`. */
function runSuite(faults: readonly string[]): Promise<Run> {
  // NODE_TEST_CONTEXT would make the child report to this runner instead of printing TAP.
  const env = { ...process.env };
  delete env["NODE_TEST_CONTEXT"];
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--test", "--test-reporter=tap", "--test-timeout=60000", "--test-force-exit", RUN_SUITE],
      { env: { ...env, GATEHOUSE_FAULTS: faults.join(",") }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (data: string) => (output += data));
    child.stderr.setEncoding("utf8").on("data", (data: string) => (output += data));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      reject(new Error(`the suite did not finish; output so far:\n${output}`));
    }, 90_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const results = new Map<string, boolean>();
      for (const match of output.matchAll(/^\s*(ok|not ok) \d+ - ([a-z-]+): /gm))
        results.set(match[2]!, match[1] === "ok");
      resolve({ code, output, results });
    });
  });
}

function failed(run: Run): string[] {
  return [...run.results].filter(([, passed]) => !passed).map(([name]) => name);
}

describe("the compliance suite fails non-compliant providers, with the reason", () => {
  it("passes a compliant provider: every check, exit 0", async () => {
    const run = await runSuite([]);
    assert.equal(run.code, 0, run.output);
    assert.equal(run.results.size, 14, run.output);
    assert.deepEqual(failed(run), []);
  });

  it("fails a provider that puts the password in its error", async () => {
    const run = await runSuite(["leakPasswordInError"]);
    assert.notEqual(run.code, 0);
    assert.deepEqual(failed(run), ["broken-backend"], run.output);
    assert.match(
      run.output,
      /the error carries the password \(Error: backend unavailable: bind as alice with <password> refused\)/,
    );
    assert.doesNotMatch(run.output.replace(/GATEHOUSE_FAULTS[^\n]*/g, ""), /alice-s3cret-pass/);
  });

  it("fails a provider that ignores the AbortSignal", async () => {
    const run = await runSuite(["ignoreAbort"]);
    assert.notEqual(run.code, 0);
    assert.deepEqual(failed(run), ["abort-mid-flight"], run.output);
    assert.match(run.output, /a call aborted mid-flight did not settle within 2000 ms of the abort/);
  });

  it("fails a provider that returns invalid shapes", async () => {
    const run = await runSuite(["invalidShapes"]);
    assert.notEqual(run.code, 0);
    const failures = failed(run);
    for (const check of ["allow", "wrong-password", "concurrency"]) assert.ok(failures.includes(check), run.output);
    assert.match(run.output, /invalid result \(identities\[0\]\.context is not a known context\)/);
    assert.match(run.output, /invalid result \(provider returned null\); expected false/);
  });

  it("fails a provider that treats * in a username as a wildcard", async () => {
    const run = await runSuite(["wildcardUsernames"]);
    assert.notEqual(run.code, 0);
    assert.deepEqual(failed(run), ["odd-bytes"], run.output);
    assert.match(run.output, /username \* with the valid password: ALLOWED/);
  });

  it("fails a provider that throws on NUL and cannot be closed twice", async () => {
    const run = await runSuite(["throwOnNul", "closeOnce"]);
    assert.notEqual(run.code, 0);
    const failures = failed(run);
    for (const check of ["odd-bytes", "trailing-nul", "close"]) assert.ok(failures.includes(check), run.output);
    assert.match(run.output, /close\(\) must be idempotent/);
    assert.match(run.output, /string contains null bytes; bad credentials must be false, not an error/);
  });

  it("fails a provider that logs the password", async () => {
    const run = await runSuite(["logPassword"]);
    assert.notEqual(run.code, 0);
    const failures = failed(run);
    for (const check of ["wrong-password", "unknown-user", "empty-credentials"])
      assert.ok(failures.includes(check), run.output);
    assert.match(
      run.output,
      /a log line carries the password: \{"level":"debug","username":"alice","password":"<password>"/,
    );
  });

  it("fails a provider whose broken backend answers false instead of throwing", async () => {
    const run = await runSuite(["brokenAnswersFalse"]);
    assert.notEqual(run.code, 0);
    assert.deepEqual(failed(run), ["broken-backend"], run.output);
    assert.match(run.output, /a broken backend must throw \(reject\), never answer/);
  });
});
