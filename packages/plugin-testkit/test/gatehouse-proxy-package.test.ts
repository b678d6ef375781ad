import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { REPO_ROOT, curlThrough, run, startGatehouse, startHttp } from "./helpers/run.js";
import type { Gatehouse } from "./helpers/run.js";

const INSTALL = join(REPO_ROOT, "scripts", "install-tarballs.js");
const BUILT_IN = ["auth-ldap", "auth-lua", "auth-redis", "auth-static", "auth-webhook"];

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
      "gatehouse-proxy-server-0.1.0.tgz",
    ]);
    const manifest = JSON.parse(readFileSync(join(prefix, "package.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(manifest["dependencies"], { "gatehouse-proxy": "file:gatehouse-proxy-0.1.0.tgz" });
  });

  it("installs one `gatehouse` command, which prints its version, from either package's bin", async () => {
    const version = await run(bin, ["--version"], prefix);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, "gatehouse 0.1.0\n");
    const own = join(prefix, "node_modules", "gatehouse-proxy", "bin", "gatehouse.js");
    const viaPackage = await run(own, ["--version"], prefix);
    assert.equal(viaPackage.code, 0, viaPackage.stderr);
    assert.equal(viaPackage.stdout, "gatehouse 0.1.0\n");
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
  });
});
