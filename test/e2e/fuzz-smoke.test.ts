// A short `npm run fuzz` (scripts/fuzz/) inside `npm test`: a fixed seed, a few thousand random
// and mutated handshakes against the real gatehouse process in a private network namespace,
// with every oracle of the full run — well-formed replies, no tunnel to a destination the proxy
// must refuse (issue 13 §1 names, unspecified addresses, the policy), no password in the log,
// the process alive with fds and RSS back near baseline, a normal login and tunnel afterwards.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const fuzzer = fileURLToPath(new URL("../../../scripts/fuzz/run.js", import.meta.url));
const SEED = 20261203;
const CASES = 2500;

interface FuzzSummary {
  readonly cases: number;
  readonly casesPerSecond: number;
  readonly alive: boolean;
  readonly tunnels: number;
  readonly trapConnections: number;
  readonly failures: number;
  readonly failureKinds: Record<string, number>;
  readonly failedCases: number[];
  readonly fds: { before: number; after?: number };
  readonly udp?: {
    readonly datagrams: number;
    readonly malformed: number;
    readonly echoed: number;
    readonly trap: number;
  };
}

function runFuzzer(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fuzzer, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
  });
}

describe("fuzz smoke run (scripts/fuzz, fixed seed)", () => {
  it(`${String(CASES)} random and mutated handshakes: every oracle holds`, { timeout: 120_000 }, async () => {
    const { code, output } = await runFuzzer([
      "--seed",
      String(SEED),
      "--cases",
      String(CASES),
      "--duration",
      "30",
      "--json",
    ]);
    const line = output.split("\n").find((text) => text.startsWith("FUZZ-SUMMARY "));
    assert.ok(line !== undefined, `the fuzzer printed no summary (exit ${String(code)}):\n${output.slice(-4000)}`);
    const summary = JSON.parse(line.slice("FUZZ-SUMMARY ".length)) as FuzzSummary;
    const report = output.slice(0, output.indexOf("FUZZ-SUMMARY "));
    // Enough cases ran to mean something even on a loaded machine, and some reached a tunnel.
    assert.ok(summary.cases >= 1000, `only ${String(summary.cases)} cases ran:\n${report}`);
    assert.ok(summary.tunnels > 0, `no case reached a tunnel: the oracles checked nothing:\n${report}`);
    assert.equal(summary.alive, true, report);
    assert.equal(summary.trapConnections, 0, `the policy's trap was dialled:\n${report}`);
    // The UDP phase ran (2000 datagrams by default), reached the echo server, and never the trap.
    assert.ok(summary.udp !== undefined && summary.udp.malformed > 0 && summary.udp.echoed > 0, report);
    assert.equal(summary.udp.trap, 0, `the policy's UDP trap received a datagram:\n${report}`);
    assert.deepEqual(
      summary.failureKinds,
      {},
      `replay with: npm run fuzz -- --seed ${String(SEED)} --replay ${String(summary.failedCases[0])}\n${report}`,
    );
    assert.equal(code, 0, report);
  });
});
