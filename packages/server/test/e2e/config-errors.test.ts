import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { INLINE_PLUGIN, makeFixtureDir } from "../helpers/fixtures.js";

// An unknown key, a bad duration, a missing file and invalid YAML, each on its own: in
// error-codes.test.ts, with their messages, codes and exit status.
describe("gatehouse check-config: config errors name their path and exit 2", () => {
  const fixture = makeFixtureDir();
  before(() => fixture.write("inline.js", INLINE_PLUGIN));
  after(() => fixture.remove());

  async function check(name: string, text: string, env: NodeJS.ProcessEnv = {}) {
    const file = fixture.write(name, text);
    return runCli(["check-config", file], { env });
  }

  it("an unknown top-level key", async () => {
    const result = await check("top.yaml", "listeners:\n  - listen: 127.0.0.1:0\nlisteners_extra: []\n");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /listeners_extra: unknown key/);
  });

  it("a bad listen address", async () => {
    const result = await check("listen.yaml", "listeners:\n  - listen: localhost\n");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /listeners\[0\]\.listen: expected host:port/);
  });

  it("a bad max_unauthenticated_per_ip", async () => {
    const text = [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    max_unauthenticated_per_ip: -1",
      "  - listen: 127.0.0.1:0",
      "    max_unauthenticated_per_ip: 2.5",
    ].join("\n");
    const result = await check("per-ip.yaml", text);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /listeners\[0\]\.max_unauthenticated_per_ip: expected 0 \(no limit\) or more/);
    assert.match(result.stderr, /listeners\[1\]\.max_unauthenticated_per_ip: expected a whole number of connections/);
  });

  it("workers: 0, 257 and a word other than auto each name the range; 2 is reported", async () => {
    for (const value of ["0", "257", "lots", "1.5"]) {
      const result = await check(`workers-${value}.yaml`, `workers: ${value}\nlisteners:\n  - listen: 127.0.0.1:0\n`);
      assert.equal(result.code, 2, value);
      assert.match(result.stderr, /workers: expected a number of processes from 1 to 256, or "auto"/, value);
    }
    const ok = await check("workers-2.yaml", "workers: 2\nlisteners:\n  - listen: 127.0.0.1:0\n");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /, 2 workers$/m);
    assert.equal((await check("workers-auto.yaml", "workers: auto\nlisteners:\n  - listen: 127.0.0.1:0\n")).code, 0);
  });

  it("state: each mistake names its path; store redis with a url is accepted", async () => {
    const cases: [string, RegExp][] = [
      ["state: { store: memory, url: redis://127.0.0.1:6379 }", /state\.url: only with store: redis/],
      ["state: { store: redis }", /state: set exactly one of url, sentinels \(with name\) or cluster/],
      [
        "state: { store: redis, url: redis://127.0.0.1:6379, lease_ttl: 100ms }",
        /state\.lease_ttl: must be at least 300ms/,
      ],
      ["state: { store: redis, url: redis://127.0.0.1:6379, on_store_error: maybe }", /state\.on_store_error:/],
      [
        "state: { store: redis, cluster: ['127.0.0.1:7000'] }",
        /state\.key_prefix: with cluster, key_prefix needs a hash tag/,
      ],
      ["state: { store: etcd }", /state\.store:/],
    ];
    for (const [line, expected] of cases) {
      const result = await check("state.yaml", `listeners:\n  - listen: 127.0.0.1:0\n${line}\n`);
      assert.equal(result.code, 2, line);
      assert.match(result.stderr, expected, line);
    }
    const ok = await check(
      "state-ok.yaml",
      "listeners:\n  - listen: 127.0.0.1:0\nstate: { store: redis, url: redis://127.0.0.1:6379, lease_ttl: 5s }\n",
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /, state in Redis \(on_store_error: deny\)$/m);
  });

  it("a missing environment variable", async () => {
    const text = [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "auth:",
      "  provider: p",
      "  providers:",
      "    p:",
      "      use: ./inline.js",
      "      users:",
      "        alice: ${env:GATEHOUSE_TEST_UNSET_VARIABLE}",
    ].join("\n");
    const result = await check("env.yaml", text, { GATEHOUSE_TEST_UNSET_VARIABLE: undefined });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /auth\.providers\.p\.users\.alice: environment variable GATEHOUSE_TEST_UNSET_VARIABLE is not set/,
    );
  });

  it("several errors are reported together", async () => {
    const text = [
      "listeners:",
      "  - listen: nowhere",
      "    connect_timeout: soon",
      "auth:",
      "  provider: missing",
      "  cache: { ttl: 1x }",
      "log: { level: loud }",
    ].join("\n");
    const result = await check("several.yaml", text);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /listeners\[0\]\.listen: /);
    assert.match(result.stderr, /listeners\[0\]\.connect_timeout: /);
    assert.match(result.stderr, /auth\.provider: unknown provider "missing"/);
    assert.match(result.stderr, /auth\.cache\.ttl: /);
    assert.match(result.stderr, /log\.level: /);
  });

  it("a plugin's own schema errors carry the provider's path", async () => {
    const text = [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "auth:",
      "  provider: p",
      "  providers:",
      "    p:",
      "      use: ./inline.js",
      "      users: { alice: 7 }",
      "      colour: blue",
    ].join("\n");
    const result = await check("plugin-schema.yaml", text);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /auth\.providers\.p\.users\.alice: expected string/);
    assert.match(result.stderr, /auth\.providers\.p\.colour: unknown key/);
  });

  it("JSON config files are accepted", async () => {
    const result = await check("ok.json", JSON.stringify({ listeners: [{ listen: "127.0.0.1:0" }] }));
    assert.equal(result.code, 0, result.stderr);
  });

  it("exit 0 and no ports opened for a good config with a plugin", async () => {
    const text = [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      "    timeout: 30s",
      "auth:",
      "  provider: p",
      "  timeout: 2s",
      "  cache: { ttl: 10s }",
      "  throttle: false",
      "  providers:",
      "    p:",
      "      use: ./inline.js",
      "      users: { alice: wonderland }",
      "log: { level: debug, format: json }",
    ].join("\n");
    const result = await check("good.yaml", text);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /OK/);
    assert.match(result.stdout, /p \(fixture-inline\)/);
  });
});
