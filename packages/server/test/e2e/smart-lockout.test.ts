// Smart lockout through the real `gatehouse` process: guessers block a username for
// themselves only. Clients come from distinct 127.0.0.x source addresses (all of 127/8 is
// local on Linux); the user logs in with curl, the guessers with byte-level logins.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curl, startHttp } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { loginStatus } from "../helpers/socks-bytes.js";

const PASSWORDS = { alice: "alice-Pw-1", bob: "bob-Pw-2" };
const SUCCESS = 0x00;
const FAILURE = 0x01;

interface AuthLine {
  readonly username?: string;
  readonly reason?: string;
  readonly peer_address?: string;
  readonly detail?: string;
}

function authLines(proxy: RunningCli): AuthLine[] {
  return proxy
    .stdout()
    .split("\n")
    .filter((line) => line.includes('"event":"auth"'))
    .map((line) => JSON.parse(line) as AuthLine);
}

/** The log travels through a pipe: waits until `count` auth lines for `username` arrived. */
async function waitForAuthLines(proxy: RunningCli, username: string, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (authLines(proxy).filter((line) => line.username === username).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("smart lockout in the gatehouse process (default throttle: 10 failures a minute)", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  let proxy: RunningCli;
  let url: string;

  /** curl from `source` with the user's credentials: exit 0 when the login and the request went through. */
  const curlFrom = async (source: string, user: string, password: string): Promise<number> =>
    (
      await curl([
        "--interface",
        source,
        "--socks5-hostname",
        `127.0.0.1:${String(proxy.ports[0])}`,
        "--proxy-user",
        `${user}:${password}`,
        url,
      ])
    ).exitCode;

  before(async () => {
    http = await startHttp();
    url = `http://127.0.0.1:${String(http.port)}/`;
    const [alice, bob] = await Promise.all([
      hashPassword(PASSWORDS.alice, CHEAP_SCRYPT),
      hashPassword(PASSWORDS.bob, CHEAP_SCRYPT),
    ]);
    const config = fixture.write(
      "lockout.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        ...staticAuthLines(alice, { bob }),
        "log: { level: debug }",
      ].join("\n"),
    );
    proxy = await startCli(["--config", config]);
  });
  after(async () => {
    await proxy.stop("SIGTERM");
    http.server.close();
    fixture.remove();
  });

  it("one address fails 10×: it is refused even with the right password; the user elsewhere logs in", async () => {
    const port = proxy.ports[0]!;
    for (let i = 0; i < 10; i++)
      assert.equal(await loginStatus(port, "alice", `guess-${String(i)}`, "127.0.0.2"), FAILURE);
    assert.equal(await loginStatus(port, "alice", PASSWORDS.alice, "127.0.0.2"), FAILURE, "the guesser got in");
    assert.equal(await curlFrom("127.0.0.3", "alice", PASSWORDS.alice), 0, "the user was locked out");
    assert.equal(await loginStatus(port, "alice", PASSWORDS.alice, "127.0.0.2"), FAILURE, "still refused");

    await waitForAuthLines(proxy, "alice", 13);
    const alice = authLines(proxy).filter((line) => line.username === "alice");
    assert.deepEqual(
      alice.map((line) => `${line.peer_address?.split(":")[0] ?? ""} ${line.reason ?? ""}`),
      [
        ...Array<string>(10).fill("127.0.0.2 bad_credentials"),
        "127.0.0.2 throttled",
        "127.0.0.3 ok",
        "127.0.0.2 throttled",
      ],
    );
  });

  it("guessers spread over five addresses block the username only for themselves", async () => {
    const port = proxy.ports[0]!;
    const guessers = ["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4", "127.0.1.5"];
    for (const guesser of guessers) {
      for (let i = 0; i < 2; i++) assert.equal(await loginStatus(port, "bob", `guess-${String(i)}`, guesser), FAILURE);
    }
    for (const guesser of guessers) {
      assert.equal(await loginStatus(port, "bob", PASSWORDS.bob, guesser), FAILURE, `${guesser} got in as bob`);
    }
    // No guesser address is blocked as such (2 failures each): alice logs in from one of them.
    assert.equal(await loginStatus(port, "alice", PASSWORDS.alice, "127.0.1.1"), SUCCESS);
    assert.equal(await curlFrom("127.0.1.9", "bob", PASSWORDS.bob), 0, "bob was locked out from a clean address");
    // That success does not reset what the guessers built.
    assert.equal(await loginStatus(port, "bob", PASSWORDS.bob, "127.0.1.2"), FAILURE, "a success lifted the block");
    // A new address that fails during the block is suspect at once.
    assert.equal(await loginStatus(port, "bob", "guess-new", "127.0.1.6"), FAILURE);
    assert.equal(await loginStatus(port, "bob", PASSWORDS.bob, "127.0.1.6"), FAILURE);

    await waitForAuthLines(proxy, "bob", 19);
    const bob = authLines(proxy).filter((line) => line.username === "bob");
    const refused = bob.filter((line) => line.reason === "throttled");
    assert.equal(refused.length, 7);
    for (const line of refused) assert.match(line.detail ?? "", /username/);
    assert.deepEqual(
      bob.filter((line) => line.reason === "ok").map((line) => line.peer_address?.split(":")[0]),
      ["127.0.1.9"],
    );
  });
});
