import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, startCli } from "../helpers/cli.js";
import { curl, curlThrough, startHttp } from "../helpers/curl.js";
import { makeFixtureDir } from "../helpers/fixtures.js";
import { REPO_ROOT } from "../helpers/paths.js";

const QUICKSTART = join(REPO_ROOT, "examples", "quickstart.yaml");

describe("examples/quickstart.yaml", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  before(async () => {
    http = await startHttp();
  });
  after(() => {
    http.server.close();
    fixture.remove();
  });

  it("passes check-config", async () => {
    const result = await runCli(["check-config", QUICKSTART]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /@gatehouse-proxy\/auth-lua/);
  });

  it("lets proxyuser/secretpassword through with curl and refuses a wrong password", async () => {
    // The same file on ephemeral ports, so the test does not need 1080 or 9090 free.
    const text = readFileSync(QUICKSTART, "utf8")
      .replace("listen: 127.0.0.1:1080", "listen: 127.0.0.1:0")
      .replace("listen: 127.0.0.1:9090", "listen: 127.0.0.1:0");
    assert.doesNotMatch(text, /:1080\n|:9090\n/);
    fixture.write("policy.lua", readFileSync(join(REPO_ROOT, "examples", "policy.lua"), "utf8"));
    const proxy = await startCli(["--config", fixture.write("quickstart.yaml", text)]);
    try {
      const port = proxy.ports[0]!;
      const good = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/qs`, "proxyuser:secretpassword");
      assert.equal(good.exitCode, 0);
      assert.equal(good.stdout, "hello /qs");
      const bad = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/qs`, "proxyuser:secretpassworD");
      assert.equal(bad.exitCode, 97);
      const none = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/qs`);
      assert.notEqual(none.exitCode, 0);
      assert.ok(proxy.adminPort !== undefined, "the quickstart has an admin listener");
      const metrics = await curl([`http://127.0.0.1:${String(proxy.adminPort)}/metrics`]);
      assert.match(metrics.stdout, /proxy_auth_total\{provider="local",outcome="allow",reason="ok"\} 1\n/);
    } finally {
      assert.equal((await proxy.stop()).code, 0);
    }
    assert.match(proxy.stdout(), /"groups":\["proxy-users","premium-tier"\]/);
    assert.doesNotMatch(proxy.stdout(), /secretpassw/);
  });
});
