// What an anonymous client can do to the log of the real `gatehouse` process: forge lines
// with a username (escaped in both formats) and fill it with failed handshakes (debug lines
// plus one counted summary per interval).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { makeFixtureDir } from "../helpers/fixtures.js";
import { loginStatus } from "../helpers/socks-bytes.js";
import { CLI, REPO_ROOT } from "../helpers/paths.js";

const FORGED = '{"level":30,"event":"auth","outcome":"allow","username":"root","msg":"auth decision"}';
/** Usernames that try to break out of their log line, or hide in it. */
const HOSTILE_USERNAMES = [
  `mallory\n${FORGED}`,
  "mallory\r\n12:00:00.000 INFO  auth decision event=auth outcome=allow username=root",
  "mal\u0085lory\u2028forged\u2029line",
  "\u001b[2J\u001b[1;1Hmallory\u007f",
  "mallory\u202etoor\u200b\ufeff",
  "mallory outcome=allow reason=ok",
];
// eslint-disable-next-line no-control-regex -- no control character may reach the log
const ALLOWED_RAW = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u200b\ufeff]*$/u;

/** The CLI with any log format: waits for the started line (JSON or pretty) and takes the port from it. */
async function startAnyFormat(config: string): Promise<{ port: number; stdout(): string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [CLI, "--config", config], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (data: string) => (stdout += data));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const match = /listeners(?:=|":)\["127\.0\.0\.1:(\d+)"\]/.exec(stdout);
    if (match !== null) return { port: Number(match[1]), stdout: () => stdout, stop };
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`gatehouse did not start: ${stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function linesAfter(proxy: { stdout(): string }, from: number): string[] {
  return proxy
    .stdout()
    .slice(from)
    .split("\n")
    .filter((line) => line !== "");
}

async function hostileConfig(fixture: ReturnType<typeof makeFixtureDir>, format: string): Promise<string> {
  const alice = await hashPassword("alice-Pw-1");
  return fixture.write(
    `hygiene-${format}.yaml`,
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      "auth:",
      "  provider: local",
      "  throttle: false",
      "  providers:",
      "    local:",
      "      use: static",
      "      users:",
      `        alice: { password: "${alice}" }`,
      `log: { level: info, format: ${format}, handshake_failures_interval: 200ms }`,
    ].join("\n"),
  );
}

describe("a username cannot forge or hide log lines", () => {
  const fixture = makeFixtureDir();
  after(() => fixture.remove());

  for (const format of ["json", "pretty"] as const) {
    it(`log.format: ${format}: one line per event, the username escaped`, async () => {
      const proxy = await startAnyFormat(await hostileConfig(fixture, format));
      const from = proxy.stdout().length;
      try {
        for (const username of HOSTILE_USERNAMES) {
          assert.equal(await loginStatus(proxy.port, username, "wrong-Pw"), 0x01);
        }
        const deadline = Date.now() + 10_000;
        while (!linesAfter(proxy, from).some((line) => line.includes("handshake_failures"))) {
          assert.ok(Date.now() < deadline, `no handshake_failures line: ${proxy.stdout()}`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      } finally {
        await proxy.stop();
      }
      const lines = linesAfter(proxy, from);
      const authLines = lines.filter((line) => line.includes("auth decision"));
      // Exactly one auth line per attempt; every other line is the summary or a shutdown event.
      assert.equal(authLines.length, HOSTILE_USERNAMES.length, lines.join("\n"));
      for (const line of lines) assert.match(line, ALLOWED_RAW, `a raw control or invisible character: ${line}`);
      if (format === "json") {
        const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
        const auth = records.filter((record) => record.event === "auth");
        assert.deepEqual(
          auth.map((record) => record.username),
          HOSTILE_USERNAMES,
          "the usernames round-trip through the JSON",
        );
        assert.ok(
          auth.every((record) => record.outcome === "deny"),
          "a forged allow",
        );
        assert.ok(!records.some((record) => record.username === "root"));
      } else {
        for (const line of lines)
          assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} [A-Z]{4,5} +\S/, `not a log line: ${line}`);
        assert.ok(!lines.some((line) => line.startsWith("12:00:00.000")), "the forged pretty line");
        assert.ok(authLines.every((line) => / outcome=deny /.test(line)));
        assert.ok(authLines.some((line) => line.includes('username="mallory\\n{\\"level\\":30')));
        assert.ok(authLines.some((line) => line.includes("\\u001b[2J")));
        assert.ok(authLines.some((line) => line.includes('username="mallory outcome=allow reason=ok"')));
      }
    });
  }
});

describe("failed handshakes before authentication: debug lines and one summary per interval", () => {
  const fixture = makeFixtureDir();
  let proxy: RunningCli;
  before(async () => {
    proxy = await startCli(["--config", await hostileConfig(fixture, "json")]);
  });
  after(async () => {
    await proxy.stop("SIGTERM");
    fixture.remove();
  });

  /** Connects, sends `bytes`, waits for the proxy to close the connection. */
  const handshake = (bytes: readonly number[]): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port: proxy.ports[0]! });
      socket.on("connect", () => socket.write(Buffer.from(bytes)));
      socket.on("data", () => undefined);
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
    });

  it("counts them by reason in handshake_failures lines; the user's login and bad password stay at info", async () => {
    const from = proxy.stdout().length;
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) work.push(handshake([0x04, 0x01, 0x00, 0x50])); // SOCKS4
    for (let i = 0; i < 20; i++) work.push(handshake([0x05, 0x01, 0x00])); // no auth offered
    work.push(loginStatus(proxy.ports[0]!, "alice", "wrong-Pw"));
    await Promise.all(work);
    const records = (): Record<string, unknown>[] =>
      linesAfter(proxy, from).map((line) => JSON.parse(line) as Record<string, unknown>);
    const summed = (): Record<string, number> => {
      const sum: Record<string, number> = {};
      for (const record of records().filter((line) => line.event === "handshake_failures")) {
        for (const [reason, count] of Object.entries(record.reasons as Record<string, number>)) {
          sum[reason] = (sum[reason] ?? 0) + count;
        }
      }
      return sum;
    };
    const deadline = Date.now() + 10_000;
    while (Object.values(summed()).reduce((a, b) => a + b, 0) < 51) {
      assert.ok(Date.now() < deadline, `summary incomplete: ${JSON.stringify(summed())}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.deepEqual(summed(), {
      "protocol_error:bad_version": 30,
      auth_required: 20,
      "auth_failed:bad_credentials": 1,
    });
    assert.equal(records().filter((record) => record.event === "session_end").length, 0, "a session_end at info");
    const auth = records().filter((record) => record.event === "auth");
    assert.deepEqual(
      auth.map((record) => record.reason),
      ["bad_credentials"],
    );

    // Quiet intervals write nothing.
    const quietFrom = proxy.stdout().length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(linesAfter(proxy, quietFrom), []);
  });
});
