import "reflect-metadata";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { verifyPlugin } from "@gatehouse-proxy/plugin-testkit";
import type { PluginVerification } from "@gatehouse-proxy/plugin-testkit";
import {
  FUTURE_HOST,
  GOOD_PLUGIN,
  IMPOSTER,
  NOT_ZOD_SCHEMA,
  NO_DEFAULT_EXPORT,
  REACHES_INTO_CORE,
  THROWS_AT_IMPORT,
  pluginDir,
} from "../helpers/plugin-dir.js";

function codes(report: PluginVerification): string[] {
  return report.problems.map((problem) => problem.code);
}

describe("verifyPlugin reports what is wrong, through the production loader", () => {
  const fixture = pluginDir();
  after(() => fixture.remove());
  const options = { configDir: fixture.dir };

  it("a working plugin with a good config: ok, created, init/health/close run", async () => {
    fixture.write("good.js", GOOD_PLUGIN);
    const report = await verifyPlugin("./good.js", { users: { alice: "pw" } }, options);
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.plugin?.name, "gatehouse-plugin-fixture");
    assert.ok(report.passed.includes("init() resolved"));
    assert.ok(report.passed.includes("health() resolved"));
    assert.ok(report.passed.includes("close() resolved, twice"));
    assert.ok(report.warnings.some((warning) => /loose file/.test(warning)));
  });

  it("not installed", async () => {
    const report = await verifyPlugin("gatehouse-plugin-not-there", undefined, options);
    assert.deepEqual(codes(report), ["GH_PLUGIN_NOT_INSTALLED"]);
    assert.match(report.problems[0]!.message, /npm install gatehouse-plugin-not-there/);
  });

  it("a module that throws at import: failed to load, with the cause", async () => {
    fixture.write("throws.js", THROWS_AT_IMPORT);
    const report = await verifyPlugin("./throws.js", undefined, options);
    assert.deepEqual(codes(report), ["GH_PLUGIN_LOAD_FAILED"]);
    assert.match(report.problems[0]!.message, /boom at import time/);
  });

  it("no default export: not a plugin, and says so", async () => {
    fixture.write("nodefault.js", NO_DEFAULT_EXPORT);
    const report = await verifyPlugin("./nodefault.js", undefined, options);
    assert.deepEqual(codes(report), ["GH_PLUGIN_NOT_A_PLUGIN"]);
    assert.match(report.problems[0]!.message, /has no default export/);
  });

  it("a default export not made by definePlugin: not a plugin", async () => {
    fixture.write("imposter.js", IMPOSTER);
    const report = await verifyPlugin("./imposter.js", undefined, options);
    assert.deepEqual(codes(report), ["GH_PLUGIN_NOT_A_PLUGIN"]);
    assert.match(report.problems[0]!.message, /not the result of definePlugin\(\)/);
  });

  it("a plugin for another host version: GH_PLUGIN_VERSION_MISMATCH", async () => {
    fixture.write("future.js", FUTURE_HOST);
    const report = await verifyPlugin("./future.js", undefined, options);
    assert.deepEqual(codes(report), ["GH_PLUGIN_VERSION_MISMATCH"]);
    assert.match(report.problems[0]!.message, /needs Gatehouse >=99, but this is Gatehouse 0\.1\.\d/);
  });

  it("a configSchema that is not a zod schema: GH_PLUGIN_BAD_SCHEMA", async () => {
    fixture.write("badschema.js", NOT_ZOD_SCHEMA);
    const report = await verifyPlugin("./badschema.js", {}, options);
    assert.deepEqual(codes(report), ["GH_PLUGIN_BAD_SCHEMA"]);
  });

  it("a config the schema rejects: one line per problem with its path and its config code", async () => {
    fixture.write("good.js", GOOD_PLUGIN);
    const report = await verifyPlugin("./good.js", { users: { alice: "" }, userz: {} }, options);
    assert.deepEqual(codes(report).sort(), ["GH_CONFIG_INVALID_VALUE", "GH_CONFIG_UNKNOWN_KEY"]);
    const messages = report.problems.map((problem) => problem.message).join("\n");
    assert.match(messages, /config\.userz: unknown key/);
    assert.match(messages, /config\.users\.alice: /);
  });

  it("init() failing: GH_PROVIDER_INIT_FAILED with the provider's message", async () => {
    fixture.write("good.js", GOOD_PLUGIN);
    const report = await verifyPlugin("./good.js", { users: {}, fail_init: true }, options);
    assert.deepEqual(codes(report), ["GH_PROVIDER_INIT_FAILED"]);
    assert.match(report.problems[0]!.message, /cannot reach the backend/);
  });

  it("a plugin that imports @gatehouse-proxy/core internals fails to load: only the package's exports are public", async () => {
    fixture.write("sneaky.js", REACHES_INTO_CORE);
    const report = await verifyPlugin("./sneaky.js", undefined, options);
    assert.deepEqual(codes(report), ["GH_PLUGIN_LOAD_FAILED"]);
    assert.match(report.problems[0]!.message, /\.\/dist\/auth\/pipeline\.js' is not defined by "exports"/);
  });
});
