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
    assert.match(result.stdout, /^gatehouse-plugin-fixture \(loose file, not a package\): OK$/m);
    assert.match(result.stdout, /ok {4}loads through the production loader/);
    assert.match(result.stdout, /ok {4}supports this host: Gatehouse 0\.1\.\d+ satisfies \^0\.1/);
  });

  it("verify reports each loader failure with its kind, exit 1", async () => {
    const cases: [string, RegExp][] = [
      [
        "./imposter.js",
        /FAIL {2}\[GH_PLUGIN_NOT_A_PLUGIN\] \.\/imposter\.js is not a Gatehouse plugin \(its default export/,
      ],
      [
        "./nodefault.js",
        /FAIL {2}\[GH_PLUGIN_NOT_A_PLUGIN\] \.\/nodefault\.js is not a Gatehouse plugin \(it has no default export/,
      ],
      ["./future.js", /FAIL {2}\[GH_PLUGIN_VERSION_MISMATCH\] plugin gatehouse-plugin-future needs Gatehouse >=99/],
      [
        "gatehouse-plugin-missing",
        /FAIL {2}\[GH_PLUGIN_NOT_INSTALLED\] plugin gatehouse-plugin-missing is not installed/,
      ],
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
    assert.match(result.stdout, /\[GH_PLUGIN_LOAD_FAILED\] .*Unexpected token ',' at \S*typo-helper\.js:2:8/);
  });

  describe("package metadata belongs to the package whose entry the plugin is", () => {
    // An app with its own package.json (main: server.js), a loose plugin file beside it, and a
    // plugin package inside it (main: lib.js) holding a second file that is not its entry.
    const app = pluginDir();
    after(() => app.remove());
    const appManifest = {
      name: "host-app",
      version: "7.7.7",
      type: "module",
      main: "./server.js",
      keywords: ["app-kw"],
    };
    app.write("package.json", JSON.stringify(appManifest));
    app.write("server.js", "export {};\n");
    app.write("x.js", GOOD_PLUGIN);
    const pkgManifest = {
      name: "gatehouse-plugin-fixture",
      version: "3.2.1",
      type: "module",
      main: "./lib.js",
      keywords: ["gatehouse-plugin"],
      peerDependencies: { "@gatehouse-proxy/core": "^0.1.0" },
    };
    app.write("plugins/fixture/package.json", JSON.stringify(pkgManifest));
    app.write("plugins/fixture/lib.js", GOOD_PLUGIN);
    app.write("plugins/fixture/other.js", GOOD_PLUGIN);
    const inApp = (...args: string[]) => run(process.execPath, [CLI, ...args], app.dir, 30_000);

    it("verify ./x.js inside an app: a loose file, said plainly, with none of the app's name, version or keywords", async () => {
      const result = await inApp("plugins", "verify", "./x.js");
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^gatehouse-plugin-fixture \(loose file, not a package\): OK$/m);
      assert.match(
        result.stdout,
        /warn {2}the plugin is a loose file, not a package: \S*x\.js has no package name, version or keywords \(the package\.json in \S+ describes another module: its entry is \S*server\.js\)/,
      );
      assert.doesNotMatch(result.stdout, /host-app|7\.7\.7|app-kw/);
    });

    it("a file of a package that is not its entry is a loose file too", async () => {
      const result = await inApp("plugins", "verify", "./plugins/fixture/other.js");
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^gatehouse-plugin-fixture \(loose file, not a package\): OK$/m);
      assert.match(result.stdout, /describes another module: its entry is \S*lib\.js\)/);
      assert.doesNotMatch(result.stdout, /3\.2\.1|host-app|7\.7\.7/);
    });

    it("the package folder, and the file that is its main, report that package's metadata", async () => {
      for (const target of ["./plugins/fixture", "./plugins/fixture/lib.js"]) {
        const result = await inApp("plugins", "verify", target);
        assert.equal(result.code, 0, `${target}: ${result.stdout}${result.stderr}`);
        assert.match(result.stdout, /^gatehouse-plugin-fixture 3\.2\.1: OK$/m, target);
        assert.match(result.stdout, /loads through the production loader \(\S*plugins\/fixture\/lib\.js\)/, target);
        assert.doesNotMatch(result.stdout, /loose file|host-app|7\.7\.7/, target);
      }
    });

    it('an exports entry counts as Node resolves it ("." under the import condition), main is then ignored', async () => {
      const manifest = {
        ...pkgManifest,
        main: "./other.js",
        exports: { ".": { types: "./x.d.ts", import: "./lib.js" } },
      };
      app.write("plugins/exported/package.json", JSON.stringify(manifest));
      app.write("plugins/exported/lib.js", GOOD_PLUGIN);
      app.write("plugins/exported/other.js", GOOD_PLUGIN);
      const folder = await inApp("plugins", "verify", "./plugins/exported");
      assert.equal(folder.code, 0, folder.stdout + folder.stderr);
      assert.match(folder.stdout, /^gatehouse-plugin-fixture 3\.2\.1: OK$/m);
      assert.match(folder.stdout, /loads through the production loader \(\S*plugins\/exported\/lib\.js\)/);
      const main = await inApp("plugins", "verify", "./plugins/exported/other.js");
      assert.match(main.stdout, /^gatehouse-plugin-fixture \(loose file, not a package\): OK$/m);
    });

    it("list --config and check-config: the loose file has no version, the package folder its own", async () => {
      const file = app.write(
        "gatehouse.yaml",
        config({ loose: ["use: ./x.js", "users: {}"], packaged: ["use: ./plugins/fixture", "users: {}"] }),
      );
      const result = await inApp("plugins", "list", "--config", file);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^loose\s+\.\/x\.js\s+gatehouse-plugin-fixture\s+-\s+in use\s+\S+x\.js$/m);
      assert.match(
        result.stdout,
        /^packaged\s+\.\/plugins\/fixture\s+gatehouse-plugin-fixture\s+3\.2\.1\s+in use\s+\S+lib\.js$/m,
      );
      assert.doesNotMatch(result.stdout, /7\.7\.7/);
      const checked = await inApp("check-config", "--config", file);
      assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    });

    it("a folder with no entry is a load failure that says so", async () => {
      app.write("plugins/empty/README.md", "nothing to load\n");
      const result = await inApp("plugins", "verify", "./plugins/empty");
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(
        result.stdout,
        /FAIL {2}\[GH_PLUGIN_LOAD_FAILED\] plugin folder \S+empty has no entry point: no "exports" "\." or "main"/,
      );
    });
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
    assert.match(result.stdout, /FAIL {2}\[GH_CONFIG_UNKNOWN_KEY\] auth\.providers\.corp\.userz: unknown key/);
    assert.match(result.stdout, /FAIL {2}\[GH_PROVIDER_INIT_FAILED\] .*cannot reach the backend/);
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
    assert.match(
      result.stdout,
      /^bad\s+\.\/imposter\.js\s+-\s+-\s+error: GH_PLUGIN_NOT_A_PLUGIN\s+auth\.providers\.bad\.use: /m,
    );
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
