import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { REPO_ROOT, curlThrough, run, startGatehouse, startHttp } from "../helpers/run.js";
import type { Gatehouse } from "../helpers/run.js";

const INSTALL = join(REPO_ROOT, "scripts", "install-tarballs.js");
const BUILT_IN = ["auth-ldap", "auth-lua", "auth-redis", "auth-static", "auth-webhook"];
const TARBALL = "gatehouse-proxy-0.1.0.tgz";

/**
 * The installs here run without install scripts (--ignore-scripts, as an offline CI cache or a
 * machine without a compiler would): the splice addon is not built, and `relay: auto` says so.
 */
const NO_ADDON_VERSION =
  /^gatehouse 0\.1\.0\nrelay: js \(the splice addon: the addon is not built \(npm rebuild @gatehouse-proxy\/relay-native\): .*\)\n$/;

describe("gatehouse-proxy: packed, installed from tarballs into an empty folder with no registry, run", () => {
  // Under the OS temp folder: nothing here resolves through the workspace's node_modules.
  const root = mkdtempSync(join(tmpdir(), "gatehouse-proxy-install-"));
  const prefix = join(root, "prefix");
  const bin = join(prefix, "node_modules", ".bin", "gatehouse");
  let gatehouse: Gatehouse | undefined;
  let http: Awaited<ReturnType<typeof startHttp>> | undefined;

  before(async () => {
    // What `npx gatehouse-proxy` and `npm install gatehouse-proxy` lay out: gatehouse-proxy is the
    // only dependency, the server and the plugins come in as its dependencies.
    const install = await run(process.execPath, [INSTALL, "--into", prefix, "gatehouse-proxy"], REPO_ROOT, 120_000);
    assert.equal(install.code, 0, install.stdout + install.stderr);
  });

  after(async () => {
    await gatehouse?.stop();
    http?.server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("packs gatehouse-proxy and exactly the workspace packages it needs", () => {
    const tarballs = readdirSync(prefix).filter((name) => name.endsWith(".tgz"));
    assert.deepEqual(tarballs.sort(), [
      "gatehouse-proxy-0.1.0.tgz",
      ...BUILT_IN.map((name) => `gatehouse-proxy-${name}-0.1.0.tgz`),
      "gatehouse-proxy-core-0.1.0.tgz",
      "gatehouse-proxy-observability-0.1.0.tgz",
      "gatehouse-proxy-relay-native-0.1.0.tgz",
      "gatehouse-proxy-server-0.1.0.tgz",
    ]);
    const manifest = JSON.parse(readFileSync(join(prefix, "package.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(manifest["dependencies"], { "gatehouse-proxy": "file:gatehouse-proxy-0.1.0.tgz" });
  });

  it("installs one `gatehouse` command, which prints its version, from either package's bin", async () => {
    const version = await run(bin, ["--version"], prefix);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, NO_ADDON_VERSION);
    const own = join(prefix, "node_modules", "gatehouse-proxy", "bin", "gatehouse.js");
    const viaPackage = await run(own, ["--version"], prefix);
    assert.equal(viaPackage.code, 0, viaPackage.stderr);
    assert.match(viaPackage.stdout, NO_ADDON_VERSION);
  });

  it("finds every built-in plugin installed beside the server, none from the workspace", async () => {
    const list = await run(bin, ["plugins", "list"], prefix);
    assert.equal(list.code, 0, list.stderr);
    for (const name of BUILT_IN) {
      const from = realpathSync(join(prefix, "node_modules", "@gatehouse-proxy", name));
      const short = name.slice("auth-".length);
      assert.match(list.stdout, new RegExp(`^@gatehouse-proxy/${name}\\s+0\\.1\\.0\\s+${short}\\s+${from}$`, "m"));
    }
    assert.doesNotMatch(list.stdout, new RegExp(REPO_ROOT));
  });

  it("a curl login through the installed gatehouse with use: static", async () => {
    const record = await hashPassword("correct horse battery", { ln: 10, r: 8, p: 1 });
    writeFileSync(
      join(prefix, "gatehouse.yaml"),
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  provider: local",
        "  providers:",
        "    local:",
        "      use: static",
        "      users:",
        `        alice: { password: "${record}" }`,
        "log:",
        "  level: info",
      ].join("\n"),
    );
    http = await startHttp();
    // The installed bin through its symlink, as a shell runs it.
    gatehouse = await startGatehouse(["--config", "gatehouse.yaml"], prefix, bin);
    const url = `http://127.0.0.1:${String(http.port)}/installed`;
    const ok = await curlThrough(gatehouse.port, url, "alice:correct horse battery");
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.stdout, "hello /installed");
    assert.equal((await curlThrough(gatehouse.port, url, "alice:wrong")).exitCode, 97);
    assert.match(gatehouse.stdout(), /"plugin":"@gatehouse-proxy\/auth-static"/);
    assert.doesNotMatch(gatehouse.stdout(), /correct horse battery/);
    // relay: auto (the default) fell back to the JS relay and said why.
    assert.match(gatehouse.stdout(), /"event":"relay","relay":"js","reason":"the splice addon: the addon is not built/);
  });

  it("the installed admin listener serves the status page and its assets from the observability tarball", async () => {
    const packed = await run("tar", ["-tzf", join(prefix, "gatehouse-proxy-observability-0.1.0.tgz")], prefix);
    const pageFiles = readdirSync(join(REPO_ROOT, "packages", "observability", "status-page")).sort();
    assert.deepEqual(
      packed.stdout
        .split("\n")
        .filter((line) => line.startsWith("package/status-page/"))
        .map((line) => line.slice("package/status-page/".length))
        .sort(),
      pageFiles,
    );
    writeFileSync(
      join(prefix, "admin.yaml"),
      ["listeners:", "  - listen: 127.0.0.1:0", "admin:", "  listen: 127.0.0.1:0"].join("\n"),
    );
    const withAdmin = await startGatehouse(["--config", "admin.yaml"], prefix, bin);
    try {
      const started = withAdmin
        .stdout()
        .split("\n")
        .find((line) => line.includes('"event":"started"'))!;
      const admin = (JSON.parse(started) as { admin: string }).admin;
      const page = await fetch(`http://${admin}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
      assert.match(await page.text(), /<title>Gatehouse status<\/title>/);
      for (const name of pageFiles.filter((file) => file !== "index.html")) {
        const asset = await fetch(`http://${admin}/assets/${name}`);
        assert.equal(asset.status, 200, name);
        assert.equal(
          await asset.text(),
          readFileSync(join(REPO_ROOT, "packages", "observability", "status-page", name), "utf8"),
          name,
        );
      }
    } finally {
      await withAdmin.stop();
    }
  });

  it("relay: splice without a built addon stops startup with GH_RELAY_UNAVAILABLE (exit 1), never relays on js", async () => {
    writeFileSync(join(prefix, "splice.yaml"), ["listeners:", "  - listen: 127.0.0.1:0", "relay: splice"].join("\n"));
    const started = await run(bin, ["--config", "splice.yaml"], prefix, 30_000);
    assert.equal(started.code, 1, started.stdout + started.stderr);
    assert.match(started.stderr, /GH_RELAY_UNAVAILABLE/);
    assert.match(started.stderr, /relay: splice was asked for, but the splice addon: the addon is not built/);
  });
});

describe("gatehouse-proxy in a global prefix's layout: its dependencies inside its own node_modules", () => {
  // `npm install -g gatehouse-proxy` puts it in PREFIX/lib/node_modules/gatehouse-proxy with every
  // dependency under its own node_modules, and links PREFIX/bin/gatehouse to its bin. The same
  // layout, installed offline from the tarballs; run from a folder with no node_modules.
  const root = mkdtempSync(join(tmpdir(), "gatehouse-proxy-global-"));
  const packageDir = join(root, "lib", "node_modules", "gatehouse-proxy");
  const bin = join(root, "bin", "gatehouse");
  const elsewhere = join(root, "etc");
  after(() => rmSync(root, { recursive: true, force: true }));

  before(async () => {
    // The run's shared tarball (scripts/run-tests.js packs every workspace package once), else its own pack.
    const packed = process.env["GATEHOUSE_PACKED_DIR"];
    const tarball =
      packed !== undefined && existsSync(join(packed, TARBALL)) ? join(packed, TARBALL) : join(root, TARBALL);
    if (tarball === join(root, TARBALL)) {
      const pack = await run(
        "npm",
        ["pack", "--ignore-scripts", "--pack-destination", root, "-w", "packages/gatehouse-proxy"],
        REPO_ROOT,
      );
      assert.equal(pack.code, 0, pack.stderr);
    }
    const untar = await run("tar", ["-xzf", tarball], root);
    assert.equal(untar.code, 0, untar.stderr);
    mkdirSync(join(root, "lib", "node_modules"), { recursive: true });
    renameSync(join(root, "package"), packageDir);
    const install = await run(process.execPath, [INSTALL, "--into", packageDir], REPO_ROOT, 120_000);
    assert.equal(install.code, 0, install.stdout + install.stderr);
    mkdirSync(join(root, "bin"));
    symlinkSync("../lib/node_modules/gatehouse-proxy/bin/gatehouse.js", bin);
    mkdirSync(elsewhere);
  });

  it("gatehouse --version, and plugins list finds the five built-in plugins under gatehouse-proxy", async () => {
    const version = await run(bin, ["--version"], elsewhere);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, NO_ADDON_VERSION);
    const list = await run(bin, ["plugins", "list"], elsewhere);
    assert.equal(list.code, 0, list.stderr);
    for (const name of BUILT_IN) {
      const from = realpathSync(join(packageDir, "node_modules", "@gatehouse-proxy", name));
      assert.match(list.stdout, new RegExp(`^@gatehouse-proxy/${name}\\s+0\\.1\\.0\\s+\\S+\\s+${from}$`, "m"));
    }
  });

  it("check-config loads a short-named plugin (use: lua) from there, for a config elsewhere", async () => {
    writeFileSync(join(elsewhere, "policy.lua"), readFileSync(join(REPO_ROOT, "examples", "policy.lua")));
    writeFileSync(
      join(elsewhere, "gatehouse.yaml"),
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  provider: scripted",
        "  providers:",
        "    scripted:",
        "      use: lua",
        "      script: ./policy.lua",
      ].join("\n"),
    );
    const check = await run(bin, ["check-config", "gatehouse.yaml"], elsewhere);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /providers: scripted \(@gatehouse-proxy\/auth-lua\)/);
  });
});
