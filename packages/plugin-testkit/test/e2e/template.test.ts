import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { REPO_ROOT, curlThrough, run, startGatehouse, startHttp } from "../helpers/run.js";
import type { Gatehouse } from "../helpers/run.js";

const TEMPLATE = join(REPO_ROOT, "examples", "plugin-template");
const NAME = "gatehouse-plugin-example";
const INSTALL = join(REPO_ROOT, "scripts", "install-tarballs.js");

// What docs/writing-a-plugin.md says to do until the packages are on the registry: the
// Gatehouse packages are `npm pack` tarballs, installed offline (scripts/install-tarballs.js).
describe("the plugin template, copied and installed outside the workspace from tarballs", () => {
  // Under the OS temp folder: nothing here resolves through the workspace's node_modules.
  const root = mkdtempSync(join(tmpdir(), "gatehouse-template-"));
  const pkg = join(root, NAME);
  const app = join(root, "app");
  // The app's installed gatehouse, not the workspace's.
  const CLI = join(app, "node_modules", ".bin", "gatehouse");
  after(() => rmSync(root, { recursive: true, force: true }));

  before(async () => {
    cpSync(TEMPLATE, pkg, {
      recursive: true,
      filter: (source) => !/[/\\](node_modules|dist|dist-test)$|\.tgz$/.test(source),
    });
    const install = await run(process.execPath, [INSTALL, "--into", pkg], REPO_ROOT, 120_000);
    assert.equal(install.code, 0, install.stdout + install.stderr);
  });

  it("installs its devDependencies on the Gatehouse packages from their tarballs", () => {
    const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
    };
    assert.equal(manifest.devDependencies["@gatehouse-proxy/core"], "file:gatehouse-proxy-core-0.1.0.tgz");
    assert.equal(
      manifest.devDependencies["@gatehouse-proxy/plugin-testkit"],
      "file:gatehouse-proxy-plugin-testkit-0.1.0.tgz",
    );
    assert.equal(manifest.peerDependencies["@gatehouse-proxy/core"], "^0.1.0");
    const installed = readdirSync(join(pkg, "node_modules", "@gatehouse-proxy")).sort();
    // auth-redis comes with the server: `state: {store: redis}` uses its connection code.
    assert.deepEqual(installed, ["auth-redis", "core", "observability", "plugin-testkit", "relay-native", "server"]);
  });

  // Building and running the whole suite takes a while on a loaded machine.
  it("npm test: builds with its own tsconfig and passes its own compliance test", { timeout: 300_000 }, async () => {
    const test = await run("npm", ["test"], pkg, 240_000);
    assert.equal(test.code, 0, test.stdout + test.stderr);
    // node --test's summary: "# pass 14" (tap) or "ℹ pass 14" (spec), by Node version and TTY.
    assert.match(test.stdout, /^(#|ℹ) pass 14$/m);
    assert.match(test.stdout, /^(#|ℹ) skipped 0$/m);
    assert.match(test.stdout, /^(#|ℹ) fail 0$/m);
  });

  describe("npm pack, install beside gatehouse-proxy into an app, gatehouse with use: " + NAME, () => {
    let gatehouse: Gatehouse | undefined;
    let http: Awaited<ReturnType<typeof startHttp>> | undefined;

    before(async () => {
      const pack = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", root], pkg);
      assert.equal(pack.code, 0, pack.stderr);
      const tarball = readdirSync(root).find((name) => name.endsWith(".tgz"));
      assert.equal(tarball, `${NAME}-0.1.0.tgz`);
      // The app gets the gatehouse command from the gatehouse-proxy tarball (the host's core and
      // tsyringe are the plugin's peers) and the plugin from its own tarball, offline.
      const install = await run(
        process.execPath,
        [INSTALL, "--into", app, "gatehouse-proxy", join(root, tarball)],
        REPO_ROOT,
        120_000,
      );
      assert.equal(install.code, 0, install.stdout + install.stderr);
      const installed = readdirSync(join(app, "node_modules", NAME, "dist"));
      assert.ok(installed.includes("index.js"), `installed: ${installed.join(", ")}`);

      const record = await hashPassword("correct horse battery", { ln: 10, r: 8, p: 1 });
      writeFileSync(join(app, "users.passwd"), `alice:${record}:staff\n`);
      writeFileSync(
        join(app, "gatehouse.yaml"),
        [
          "listeners:",
          "  - listen: 127.0.0.1:0",
          "    require_auth: true",
          "auth:",
          "  provider: example",
          "  providers:",
          "    example:",
          `      use: ${NAME}`,
          "      file: ./users.passwd",
          "log:",
          "  level: info",
        ].join("\n"),
      );
      http = await startHttp();
      gatehouse = await startGatehouse(["--config", join(app, "gatehouse.yaml")], app, CLI);
    });

    after(async () => {
      await gatehouse?.stop();
      http?.server.close();
    });

    it("curl through the proxy: the right password passes, a wrong one and an unknown user get 97", async () => {
      const url = `http://127.0.0.1:${String(http!.port)}/through-the-example`;
      const ok = await curlThrough(gatehouse!.port, url, "alice:correct horse battery");
      assert.equal(ok.exitCode, 0);
      assert.equal(ok.stdout, "hello /through-the-example");
      assert.equal((await curlThrough(gatehouse!.port, url, "alice:wrong")).exitCode, 97);
      assert.equal((await curlThrough(gatehouse!.port, url, "mallory:correct horse battery")).exitCode, 97);
      assert.match(gatehouse!.stdout(), /"plugin":"gatehouse-plugin-example"/);
      assert.doesNotMatch(gatehouse!.stdout(), /correct horse battery/);
    });

    it("gatehouse plugins verify passes it, with its options from the config, and no packaging warnings", async () => {
      const result = await run(process.execPath, [CLI, "plugins", "verify", NAME, "--config", "gatehouse.yaml"], app);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^gatehouse-plugin-example 0\.1\.0: OK$/m);
      assert.match(result.stdout, /ok {4}init\(\) resolved/);
      assert.match(result.stdout, /ok {4}health\(\) resolved/);
      assert.match(result.stdout, /ok {4}close\(\) resolved, twice/);
      assert.doesNotMatch(result.stdout, /warn/);
    });

    it("gatehouse plugins list names it with its version, from the config and from node_modules", async () => {
      const fromConfig = await run(process.execPath, [CLI, "plugins", "list", "--config", "gatehouse.yaml"], app);
      assert.equal(fromConfig.code, 0, fromConfig.stderr);
      assert.match(
        fromConfig.stdout,
        /^example\s+gatehouse-plugin-example\s+gatehouse-plugin-example\s+0\.1\.0\s+in use\s/m,
      );
      const installed = await run(process.execPath, [CLI, "plugins", "list"], app);
      assert.equal(installed.code, 0, installed.stderr);
      assert.match(installed.stdout, /^gatehouse-plugin-example\s+0\.1\.0\s+gatehouse-plugin-example\s/m);
    });
  });
});
