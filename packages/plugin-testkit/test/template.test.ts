import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { CLI, REPO_ROOT, TSC, curlThrough, run, startGatehouse, startHttp } from "./helpers/run.js";
import type { Gatehouse } from "./helpers/run.js";

const TEMPLATE = join(REPO_ROOT, "examples", "plugin-template");
const NAME = "gatehouse-plugin-example";

/** Links `<dir>/node_modules/<name>` to the workspace's copy (what an npm install would provide). */
function linkFromWorkspace(dir: string, name: string): void {
  const target = join(dir, "node_modules", name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(realpathSync(join(REPO_ROOT, "node_modules", name)), target, "dir");
}

describe("the plugin template, copied and installed outside the workspace", () => {
  // Under the OS temp folder: nothing here resolves through the workspace's node_modules.
  const root = mkdtempSync(join(tmpdir(), "gatehouse-template-"));
  const pkg = join(root, NAME);
  const app = join(root, "app");
  after(() => rmSync(root, { recursive: true, force: true }));

  before(() => {
    cpSync(TEMPLATE, pkg, {
      recursive: true,
      filter: (source) => !/[/\\](node_modules|dist|dist-test)$|\.tgz$/.test(source),
    });
    for (const dev of [
      "@gatehouse-proxy/core",
      "@gatehouse-proxy/plugin-testkit",
      "@types/node",
      "reflect-metadata",
      "tsyringe",
      "typescript",
    ]) {
      linkFromWorkspace(pkg, dev);
    }
  });

  // Building and running the whole suite takes a while on a loaded machine.
  it("builds with its own tsconfig and passes its own compliance test", { timeout: 300_000 }, async () => {
    const build = await run(process.execPath, [TSC, "-p", "tsconfig.json"], pkg);
    assert.equal(build.code, 0, build.stdout + build.stderr);
    const buildTests = await run(process.execPath, [TSC, "-p", "test/tsconfig.json"], pkg);
    assert.equal(buildTests.code, 0, buildTests.stdout + buildTests.stderr);
    const test = await run(process.execPath, ["--test", "--test-reporter=tap", "dist-test/"], pkg, 240_000);
    assert.equal(test.code, 0, test.stdout + test.stderr);
    assert.match(test.stdout, /^# pass 14$/m);
    assert.match(test.stdout, /^# skipped 0$/m);
    assert.match(test.stdout, /^# fail 0$/m);
  });

  describe("npm pack, npm install into an app, gatehouse with use: " + NAME, () => {
    let gatehouse: Gatehouse | undefined;
    let http: Awaited<ReturnType<typeof startHttp>> | undefined;

    before(async () => {
      const pack = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", root], pkg);
      assert.equal(pack.code, 0, pack.stderr);
      const tarball = readdirSync(root).find((name) => name.endsWith(".tgz"));
      assert.equal(tarball, `${NAME}-0.1.0.tgz`);
      mkdirSync(app);
      // The host's packages are the peers: the app provides them (here from the workspace), the
      // plugin tarball is installed the ordinary way, offline.
      writeFileSync(
        join(app, "package.json"),
        JSON.stringify({
          name: "app",
          private: true,
          dependencies: {
            "@gatehouse-proxy/core": `file:${join(REPO_ROOT, "packages", "core")}`,
            tsyringe: `file:${realpathSync(join(REPO_ROOT, "node_modules", "tsyringe"))}`,
          },
        }),
      );
      const install = await run(
        "npm",
        ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", join(root, tarball)],
        app,
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
      gatehouse = await startGatehouse(["--config", join(app, "gatehouse.yaml")], app);
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
