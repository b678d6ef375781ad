import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { makeFixtureDir } from "../helpers/fixtures.js";

function configUsing(use: string): string {
  return [
    "listeners:",
    "  - listen: 127.0.0.1:0",
    "auth:",
    "  provider: corp",
    "  providers:",
    "    corp:",
    `      use: ${use}`,
  ].join("\n");
}

// The other distinct errors of `use:`, each with its message and code, are cases of
// error-codes.test.ts: a third-party package that is not installed (its npm install line), a
// module that throws at import, one that is not a plugin, a plugin for another host version.
describe("use: resolution has four distinct errors", () => {
  const fixture = makeFixtureDir();
  after(() => fixture.remove());

  it("a package that is not installed: 'not installed' with the npm install line", async () => {
    // Every short name is a workspace package here, so a scoped name stands in for a missing one.
    const file = fixture.write("missing.yaml", configUsing(`"@gatehouse-proxy/auth-not-built-yet"`));
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /auth\.providers\.corp\.use: plugin @gatehouse-proxy\/auth-not-built-yet is not installed/,
    );
    assert.match(result.stderr, /npm install @gatehouse-proxy\/auth-not-built-yet/);
  });

  it("a path that does not exist", async () => {
    const file = fixture.write("nofile.yaml", configUsing("./nowhere.js"));
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /auth\.providers\.corp\.use: plugin file .*nowhere\.js does not exist/);
  });
});
