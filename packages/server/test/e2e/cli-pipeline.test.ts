// The auth pipeline through the real `gatehouse` process with the real static plugin (scrypt
// records): chain, cache, throttling, and no password in any log line at trace level.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startCli } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir } from "../helpers/fixtures.js";

const PASSWORDS = { alice: "alice-Pw-1", bob: "bob-Pw-2", carol: "carol-Pw-3", wrong: "not-it-Pw-9" };

interface AuthLine {
  readonly event: string;
  readonly username?: string;
  readonly outcome?: string;
  readonly reason?: string;
  readonly provider?: string;
  readonly cached?: boolean;
}

function authLines(stdout: string): AuthLine[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as AuthLine)
    .filter((line) => line.event === "auth");
}

describe("the auth pipeline in the gatehouse process", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  let config: string;
  before(async () => {
    http = await startHttp();
    const [alice, bob, carol] = await Promise.all([
      hashPassword(PASSWORDS.alice, CHEAP_SCRYPT),
      hashPassword(PASSWORDS.bob, CHEAP_SCRYPT),
      hashPassword(PASSWORDS.carol, CHEAP_SCRYPT),
    ]);
    config = fixture.write(
      "pipeline.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  chain: [staff, contractors]",
        "  cache: { ttl: 60s }",
        "  throttle: { max_failures: 3, window: 60s, block: 60s }",
        "  providers:",
        "    staff:",
        "      use: static",
        "      users:",
        `        alice: { password: "${alice}", groups: [staff] }`,
        `        bob: { password: "${bob}" }`,
        "    contractors:",
        "      use: static",
        "      users:",
        `        carol: { password: "${carol}", groups: [contractors] }`,
        "log: { level: trace }",
      ].join("\n"),
    );
  });
  after(() => {
    http.server.close();
    fixture.remove();
  });

  it("chains, caches, throttles, and never logs a password", async () => {
    const proxy = await startCli(["--config", config]);
    const url = `http://127.0.0.1:${String(http.port)}/`;
    try {
      const port = proxy.ports[0]!;
      // chain: carol is only known to the second provider
      assert.equal((await curlThrough(port, url, `carol:${PASSWORDS.carol}`)).exitCode, 0);
      // cache: the second identical login is answered from the cache
      assert.equal((await curlThrough(port, url, `bob:${PASSWORDS.bob}`)).exitCode, 0);
      assert.equal((await curlThrough(port, url, `bob:${PASSWORDS.bob}`)).exitCode, 0);
      // throttling: after 3 failures alice is refused even with her password
      for (let i = 0; i < 3; i++) {
        assert.equal((await curlThrough(port, url, `alice:${PASSWORDS.wrong}`)).exitCode, 97);
      }
      assert.equal((await curlThrough(port, url, `alice:${PASSWORDS.alice}`)).exitCode, 97);
    } finally {
      const exit = await proxy.stop("SIGTERM");
      assert.equal(exit.code, 0);
    }
    const lines = authLines(proxy.stdout());
    const carol = lines.find((line) => line.username === "carol");
    assert.deepEqual([carol?.outcome, carol?.provider], ["allow", "contractors"]);
    const bob = lines.filter((line) => line.username === "bob");
    assert.deepEqual(
      bob.map((line) => [line.outcome, line.cached]),
      [
        ["allow", false],
        ["allow", true],
      ],
    );
    const alice = lines.filter((line) => line.username === "alice").map((line) => line.reason);
    assert.deepEqual(alice, ["bad_credentials", "bad_credentials", "bad_credentials", "throttled"]);
    for (const secret of Object.values(PASSWORDS)) {
      assert.ok(!proxy.stdout().includes(secret), `a password reached the log at trace level`);
    }
  });
});
