import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ERROR_CODES } from "@gatehouse-proxy/core";
import type { GatehouseErrorCode } from "@gatehouse-proxy/core";
import { runCli } from "../helpers/cli.js";
import { FUTURE_PLUGIN, INLINE_PLUGIN, NOT_A_PLUGIN, THROWING_PLUGIN, makeFixtureDir } from "../helpers/fixtures.js";
import { REPO_ROOT } from "../helpers/paths.js";

/** A plugin whose validate() refuses every config (as auth-static does for a users_file that is not there). */
const REFUSING_PLUGIN = `
import { definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({
  name: "fixture-refusing",
  gatehouse: "*",
  configSchema: z.object({ users_file: z.string() }),
  validate: (config) => [\`users_file: \${config.users_file} does not exist\`],
  register() {},
});
`;

/** `| \`GH_X\` | 2 | ...` rows of docs/errors.md: code → exit status. */
function documentedCodes(): Map<string, number> {
  const text = readFileSync(join(REPO_ROOT, "docs", "errors.md"), "utf8");
  const rows = new Map<string, number>();
  for (const match of text.matchAll(/^\|\s*`(GH_[A-Z_]+)`\s*\|\s*(\d+)\s*\|/gm)) {
    assert.ok(!rows.has(match[1]!), `${match[1]!} is in docs/errors.md twice`);
    rows.set(match[1]!, Number(match[2]));
  }
  return rows;
}

describe("error codes: docs/errors.md and the ERROR_CODES registry", () => {
  it("list exactly the same codes, with the same exit status", () => {
    const documented = documentedCodes();
    const registered = Object.keys(ERROR_CODES).sort();
    assert.deepEqual([...documented.keys()].sort(), registered);
    for (const code of registered) {
      assert.equal(documented.get(code), ERROR_CODES[code as GatehouseErrorCode].exitStatus, code);
    }
  });

  it("every code is GH_ and SCREAMING_SNAKE, exit status 1 or 2", () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      assert.match(code, /^GH_[A-Z]+(_[A-Z]+)*$/);
      assert.ok([1, 2].includes(info.exitStatus), code);
    }
  });
});

describe("gatehouse prints the code and exits with the status the code gives", () => {
  const fixture = makeFixtureDir();
  before(() => {
    fixture.write("inline.js", INLINE_PLUGIN);
    fixture.write("throws.js", THROWING_PLUGIN);
    fixture.write("imposter.js", NOT_A_PLUGIN);
    fixture.write("future.js", FUTURE_PLUGIN);
    fixture.write("refusing.js", REFUSING_PLUGIN);
  });
  after(() => fixture.remove());

  const LISTENER = "listeners:\n  - listen: 127.0.0.1:0\n";
  const provider = (lines: string): string =>
    `${LISTENER}auth:\n  provider: p\n  providers:\n    p:\n${lines
      .split("\n")
      .map((line) => `      ${line}`)
      .join("\n")}\n`;

  async function expectCode(args: readonly string[], code: GatehouseErrorCode, input?: string): Promise<string> {
    const result = await runCli(args, { ...(input === undefined ? {} : { input }), env: { GH_TEST_UNSET: "" } });
    assert.match(result.stderr, new RegExp(`^gatehouse: error ${code}: `, "m"), `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.code, ERROR_CODES[code].exitStatus, result.stderr);
    return result.stderr;
  }

  const checkConfigCases: [string, string, GatehouseErrorCode, RegExp][] = [
    ["syntax.yaml", "listeners: [\n", "GH_CONFIG_SYNTAX", /not valid YAML/],
    ["empty.yaml", "", "GH_CONFIG_EMPTY", /the config file is empty/],
    ["unknown.yaml", `${LISTENER}    bogus: 1\n`, "GH_CONFIG_UNKNOWN_KEY", /listeners\[0\]\.bogus: unknown key/],
    ["missing.yaml", "listeners:\n  - name: a\n", "GH_CONFIG_MISSING_KEY", /listeners\[0\]\.listen: required/],
    [
      "value.yaml",
      `${LISTENER}    timeout: 5 minutes\n`,
      "GH_CONFIG_INVALID_VALUE",
      /listeners\[0\]\.timeout: expected a duration such as 500ms, 60s or 5m/,
    ],
    ["env.yaml", "listeners:\n  - listen: ${env:GH_TEST_UNSET_NEVER}\n", "GH_CONFIG_ENV_UNSET", /GH_TEST_UNSET_NEVER/],
    [
      "hosts.yaml",
      `${LISTENER}dns:\n  hosts_file: ./no-hosts\n`,
      "GH_CONFIG_FILE_UNREADABLE",
      /dns\.hosts_file: cannot read/,
    ],
    [
      "policy.yaml",
      `${LISTENER}policy:\n  default: allow\n  rules:\n    - action: allow\n      bogus_rule_key: 1\n`,
      "GH_CONFIG_UNKNOWN_KEY",
      /policy\.rules\[0\]\.bogus_rule_key: unknown key/,
    ],
    [
      "missing-plugin.yaml",
      provider("use: gatehouse-plugin-that-does-not-exist"),
      "GH_PLUGIN_NOT_INSTALLED",
      // A third-party package name is taken as it is.
      /npm install gatehouse-plugin-that-does-not-exist/,
    ],
    [
      "throws.yaml",
      provider("use: ./throws.js"),
      "GH_PLUGIN_LOAD_FAILED",
      /auth\.providers\.p\.use: plugin \.\/throws\.js failed to load: boom at import time/,
    ],
    [
      "imposter.yaml",
      provider("use: ./imposter.js"),
      "GH_PLUGIN_NOT_A_PLUGIN",
      /auth\.providers\.p\.use: \.\/imposter\.js is not a Gatehouse plugin/,
    ],
    [
      "future.yaml",
      provider("use: ./future.js"),
      "GH_PLUGIN_VERSION_MISMATCH",
      /auth\.providers\.p\.use: plugin fixture-future needs Gatehouse >=99, but this is Gatehouse \d/,
    ],
    [
      "refused.yaml",
      provider("use: ./refusing.js\nusers_file: ./nope"),
      "GH_PLUGIN_CONFIG_REJECTED",
      /auth\.providers\.p\.users_file: \.\/nope does not exist/,
    ],
    [
      "plugin-key.yaml",
      provider("use: ./inline.js\nusers: {}\nuserz: {}"),
      "GH_CONFIG_UNKNOWN_KEY",
      /auth\.providers\.p\.userz: unknown key/,
    ],
  ];
  for (const [name, text, code, problem] of checkConfigCases) {
    it(`check-config: ${code} (${name}), under "invalid configuration"`, async () => {
      const stderr = await expectCode(["check-config", fixture.write(name, text)], code);
      assert.match(stderr, new RegExp(`error ${code}: invalid configuration:\\n {2}`));
      assert.match(stderr, problem);
    });
  }

  it("check-config of a file that is not there: GH_CONFIG_UNREADABLE, naming the file", async () => {
    const stderr = await expectCode(["check-config", join(fixture.dir, "not-there.yaml")], "GH_CONFIG_UNREADABLE");
    assert.match(stderr, /not-there\.yaml: cannot read the config file/);
  });

  it("policy test with a policy rule the compiler refuses: its problems, exit 2", async () => {
    const file = fixture.write(
      "policy-test.yaml",
      `${LISTENER}policy:\n  default: allow\n  rules:\n    - action: allow\n      from: [10.0.0.0/99]\n`,
    );
    const stderr = await expectCode(
      ["policy", "test", "--config", file, "--to", "192.0.2.1:80"],
      "GH_CONFIG_INVALID_VALUE",
    );
    assert.match(stderr, /policy\.rules\[0\]\.from\[0\]: "10\.0\.0\.0\/99": prefix length must be 0\.\.32/);
  });

  it("a provider whose init() fails at startup: GH_PROVIDER_INIT_FAILED, exit 1", async () => {
    const file = fixture.write("init.yaml", provider("use: ./inline.js\nusers: {}\nfail_init: true"));
    const stderr = await expectCode(["--config", file], "GH_PROVIDER_INIT_FAILED");
    assert.match(stderr, /startup failed: provider p \(fixture-inline\) failed to start: backend down/);
  });

  it("a listen port already in use: GH_STARTUP_FAILED, exit 1", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = holder.address() as AddressInfo;
      const file = fixture.write("busy.yaml", `listeners:\n  - listen: 127.0.0.1:${String(port)}\n`);
      const stderr = await expectCode(["--config", file], "GH_STARTUP_FAILED");
      assert.match(stderr, /EADDRINUSE/);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("bad usage: GH_CLI_USAGE, exit 2", async () => {
    await expectCode(["--frobnicate"], "GH_CLI_USAGE");
    await expectCode(["launch"], "GH_CLI_USAGE");
  });

  it("hash-password with an empty password: GH_CLI_BAD_PASSWORD, exit 2", async () => {
    await expectCode(["hash-password"], "GH_CLI_BAD_PASSWORD", "");
  });

  it("plugins verify of a broken plugin: GH_PLUGIN_VERIFY_FAILED, exit 1, the problem with its own code", async () => {
    const result = await runCli(["plugins", "verify", join(fixture.dir, "imposter.js")]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /FAIL {2}\[GH_PLUGIN_NOT_A_PLUGIN\]/);
    assert.match(result.stderr, /^gatehouse: error GH_PLUGIN_VERIFY_FAILED: /);
  });

  it("plugins verify --config naming no provider of it: GH_PLUGIN_NOT_CONFIGURED, exit 2", async () => {
    const file = fixture.write("verify.yaml", provider("use: ./inline.js\nusers: {}"));
    fixture.write("other.js", INLINE_PLUGIN);
    await expectCode(["plugins", "verify", "./other.js", "--config", file], "GH_PLUGIN_NOT_CONFIGURED");
  });

  it("plugins list with a plugin that cannot load: that plugin's code, exit 2", async () => {
    const file = fixture.write("list.yaml", provider("use: ./future.js"));
    await expectCode(["plugins", "list", "--config", file], "GH_PLUGIN_VERSION_MISMATCH");
  });

  it("users with no provider that manages users: GH_USERS_NO_STORE, exit 2", async () => {
    const file = fixture.write("users.yaml", provider("use: ./inline.js\nusers: {}"));
    await expectCode(["users", "list", "--config", file], "GH_USERS_NO_STORE");
  });
});
