import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { run } from "../helpers/run.js";
import { pluginDir } from "../helpers/plugin-dir.js";

/** Runs an ES module in a project outside the workspace and returns what it printed. */
async function probe(source: string): Promise<string> {
  const fixture = pluginDir();
  try {
    fixture.write("probe.mjs", source);
    const result = await run(process.execPath, ["probe.mjs"], fixture.dir);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  } finally {
    fixture.remove();
  }
}

describe("@gatehouse-proxy/core: a plugin can import only the package's exports", () => {
  it("the package entry point and package.json resolve", async () => {
    const out = await probe(`
      const core = await import("@gatehouse-proxy/core");
      const { createRequire } = await import("node:module");
      const pkg = createRequire(import.meta.url)("@gatehouse-proxy/core/package.json");
      console.log(typeof core.definePlugin, typeof core.normalizeAuthResult, pkg.name);
    `);
    assert.equal(out, "function function @gatehouse-proxy/core");
  });

  it("the engine and the policy compiler are their own entry points, not part of the contract", async () => {
    const out = await probe(`
      const core = await import("@gatehouse-proxy/core");
      const engine = await import("@gatehouse-proxy/core/engine");
      const policy = await import("@gatehouse-proxy/core/policy");
      console.log(typeof engine.createProxyServer, typeof policy.compileListenerPolicies,
        "createProxyServer" in core, "compileListenerPolicies" in core);
    `);
    assert.equal(out, "function function false false");
  });

  for (const internal of [
    "@gatehouse-proxy/core/dist/auth/pipeline.js",
    "@gatehouse-proxy/core/dist/plugin/define-plugin.js",
    "@gatehouse-proxy/core/dist/password/kdf.js",
    "@gatehouse-proxy/core/src/auth/contract.ts",
    "@gatehouse-proxy/core/dist/index.js",
    "@gatehouse-proxy/core/dist/engine.js",
    "@gatehouse-proxy/core/util/timer-wheel",
  ]) {
    it(`import("${internal}") fails with ERR_PACKAGE_PATH_NOT_EXPORTED`, async () => {
      const out = await probe(`
        try { await import(${JSON.stringify(internal)}); console.log("imported"); }
        catch (error) { console.log(error.code); }
      `);
      assert.equal(out, "ERR_PACKAGE_PATH_NOT_EXPORTED");
    });
  }
});
