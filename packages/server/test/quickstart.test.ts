import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, startCli } from "./helpers/cli.js";
import { curlThrough, startHttp } from "./helpers/curl.js";
import { makeFixtureDir } from "./helpers/fixtures.js";
import { REPO_ROOT } from "./helpers/paths.js";

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
    assert.match(result.stdout, /@gatehouse\/auth-static/);
  });

  it("lets proxyuser/secretpassword through with curl and refuses a wrong password", async () => {
    // The same file on an ephemeral port, so the test does not need 1080 free.
    const text = readFileSync(QUICKSTART, "utf8").replace("listen: 127.0.0.1:1080", "listen: 127.0.0.1:0");
    assert.match(text, /listen: 127\.0\.0\.1:0/);
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
    } finally {
      assert.equal((await proxy.stop()).code, 0);
    }
    assert.match(proxy.stdout(), /"groups":\["proxy-users","premium-tier"\]/);
    assert.doesNotMatch(proxy.stdout(), /secretpassw/);
  });
});
