import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { FUTURE_PLUGIN, NOT_A_PLUGIN, THROWING_PLUGIN, makeFixtureDir } from "../helpers/fixtures.js";

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

  it("a third-party package name is taken as it is", async () => {
    const file = fixture.write("pkg.yaml", configUsing("gatehouse-plugin-that-does-not-exist"));
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /npm install gatehouse-plugin-that-does-not-exist/);
  });

  it("a module that throws at import: 'failed to load' with the cause", async () => {
    fixture.write("throws.js", THROWING_PLUGIN);
    const file = fixture.write("throws.yaml", configUsing("./throws.js"));
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /auth\.providers\.corp\.use: plugin \.\/throws\.js failed to load: boom at import time/,
    );
  });

  it("a module without a definePlugin default export: 'not a Gatehouse plugin'", async () => {
    fixture.write("imposter.js", NOT_A_PLUGIN);
    const file = fixture.write("imposter.yaml", configUsing("./imposter.js"));
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /auth\.providers\.corp\.use: \.\/imposter\.js is not a Gatehouse plugin/);
  });

  it("a plugin for another host version: 'needs Gatehouse'", async () => {
    fixture.write("future.js", FUTURE_PLUGIN);
    const file = fixture.write("future.yaml", configUsing("./future.js"));
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /auth\.providers\.corp\.use: plugin fixture-future needs Gatehouse >=99, but this is Gatehouse \d/,
    );
  });

  it("a path that does not exist", async () => {
    const file = fixture.write("nofile.yaml", configUsing("./nowhere.js"));
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /auth\.providers\.corp\.use: plugin file .*nowhere\.js does not exist/);
  });
});
