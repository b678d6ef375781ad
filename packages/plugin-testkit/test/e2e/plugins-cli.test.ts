import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { CLI, run } from "../helpers/run.js";
import { FUTURE_HOST, GOOD_PLUGIN, IMPOSTER, NO_DEFAULT_EXPORT, pluginDir } from "../helpers/plugin-dir.js";

function config(providers: Record<string, string[]>, use: string[] = Object.keys(providers)): string {
  const lines = ["listeners:", "  - listen: 127.0.0.1:0", "auth:", `  chain: [${use.join(", ")}]`, "  providers:"];
  for (const [name, body] of Object.entries(providers))
    lines.push(`    ${name}:`, ...body.map((line) => `      ${line}`));
  return `${lines.join("\n")}\n`;
}

describe("gatehouse plugins verify / list (the real CLI)", () => {
  const fixture = pluginDir();
  after(() => fixture.remove());
  fixture.write("good.js", GOOD_PLUGIN);
  fixture.write("imposter.js", IMPOSTER);
  fixture.write("nodefault.js", NO_DEFAULT_EXPORT);
  fixture.write("future.js", FUTURE_HOST);
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], fixture.dir, 30_000);

  it("verify without --config: loads and checks the definition, exit 0", async () => {
    const result = await cli("plugins", "verify", "./good.js");
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^gatehouse-plugin-fixture: OK$/m);
    assert.match(result.stdout, /ok {4}loads through the production loader/);
    assert.match(result.stdout, /ok {4}supports this host: Gatehouse 0\.1\.\d+ satisfies \^0\.1/);
  });

  it("verify reports each loader failure with its kind, exit 1", async () => {
    const cases: [string, RegExp][] = [
      ["./imposter.js", /FAIL {2}\[not_a_plugin\] \.\/imposter\.js is not a Gatehouse plugin \(its default export/],
      [
        "./nodefault.js",
        /FAIL {2}\[not_a_plugin\] \.\/nodefault\.js is not a Gatehouse plugin \(it has no default export/,
      ],
      ["./future.js", /FAIL {2}\[version_mismatch\] plugin gatehouse-plugin-future needs Gatehouse >=99/],
      ["gatehouse-plugin-missing", /FAIL {2}\[not_installed\] plugin gatehouse-plugin-missing is not installed/],
    ];
    for (const [target, expected] of cases) {
      const result = await cli("plugins", "verify", target);
      assert.equal(result.code, 1, `${target}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, expected);
      assert.match(result.stderr, new RegExp(`plugin ${target.replace(/\./g, "\\.")} failed verification`));
    }
  });

  it("verify --config: checks every provider using the plugin with its options, and starts it", async () => {
    const file = fixture.write(
      "good.yaml",
      config({
        one: ["use: ./good.js", "users: {alice: pw}"],
        two: ["use: ./good.js", "users: {bob: pw}", "on_error: next"],
      }),
    );
    const result = await cli("plugins", "verify", "./good.js", "--config", file);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^auth\.providers\.one \(.*good\.yaml\):$/m);
    assert.match(result.stdout, /^auth\.providers\.two \(.*good\.yaml\):$/m);
    assert.equal(result.stdout.match(/ok {4}init\(\) resolved/g)?.length, 2);
  });

  it("verify --config: NAME_OR_PATH resolves from the config's folder, as check-config and startup do", async () => {
    const file = fixture.write("elsewhere.yaml", config({ one: ["use: ./good.js", "users: {alice: pw}"] }));
    const elsewhere = pluginDir(); // the current directory has no good.js
    try {
      const result = await run(
        process.execPath,
        [CLI, "plugins", "verify", "./good.js", "--config", file],
        elsewhere.dir,
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^auth\.providers\.one \(.*elsewhere\.yaml\):$/m);
      const checked = await run(process.execPath, [CLI, "check-config", "--config", file], elsewhere.dir);
      assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    } finally {
      elsewhere.remove();
    }
  });

  it("a plugin with a syntax error, in its entry or in a file it imports, is reported with file:line:column", async () => {
    fixture.write("typo.js", 'import helper from "./typo-helper.js";\nexport default helper;\n');
    fixture.write("typo-helper.js", "const options = {\n  a: 1,,\n};\nexport default options;\n");
    const result = await cli("plugins", "verify", "./typo.js");
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /\[load_failed\] .*Unexpected token ',' at \S*typo-helper\.js:2:8/);
  });

  it("verify --config: a rejected option names its config path; a failing init() is reported; exit 1", async () => {
    const file = fixture.write(
      "bad.yaml",
      config({
        corp: ["use: ./good.js", "users: {alice: pw}", "userz: {}"],
        down: ["use: ./good.js", "users: {}", "fail_init: true"],
      }),
    );
    const result = await cli("plugins", "verify", "./good.js", "--config", file);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /FAIL {2}\[config_rejected\] auth\.providers\.corp\.userz: unknown key/);
    assert.match(result.stdout, /FAIL {2}\[init_failed\] .*cannot reach the backend/);
  });

  it("verify --config with no provider using the plugin is a usage error (exit 2)", async () => {
    const file = fixture.write("other.yaml", config({ corp: ["use: static", "users: {}"] }));
    const result = await cli("plugins", "verify", "./good.js", "--config", file);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /no provider under auth\.providers uses \.\/good\.js/);
  });

  it("list --config: every provider with its plugin, version and whether the chain uses it", async () => {
    const file = fixture.write(
      "list.yaml",
      config({ local: ["use: static", "users: {}"], extra: ["use: ./good.js", "users: {}"] }, ["local"]),
    );
    const result = await cli("plugins", "list", "--config", file);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^PROVIDER\s+USE\s+PLUGIN\s+VERSION\s+STATUS\s+FROM$/m);
    assert.match(result.stdout, /^local\s+static\s+@gatehouse-proxy\/auth-static\s+0\.1\.0\s+in use\s+\S+auth-static/m);
    assert.match(
      result.stdout,
      /^extra\s+\.\/good\.js\s+gatehouse-plugin-fixture\s+-\s+defined, not used\s+\S+good\.js$/m,
    );
  });

  it("list --config: a plugin that cannot load is listed with its error, exit 2", async () => {
    const file = fixture.write("broken.yaml", config({ bad: ["use: ./imposter.js"] }));
    const result = await cli("plugins", "list", "--config", file);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stdout, /^bad\s+\.\/imposter\.js\s+-\s+-\s+error: not_a_plugin\s+auth\.providers\.bad\.use: /m);
  });

  it("usage errors exit 2; --help documents both commands", async () => {
    assert.equal((await cli("plugins")).code, 2);
    assert.equal((await cli("plugins", "verify")).code, 2);
    assert.equal((await cli("plugins", "list", "extra")).code, 2);
    assert.equal((await cli("plugins", "frobnicate")).code, 2);
    const help = await cli("--help");
    assert.match(help.stdout, /gatehouse plugins verify NAME_OR_PATH \[--config FILE\]/);
    assert.match(help.stdout, /gatehouse plugins list \[--config FILE\]/);
  });
});
