import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "./run.js";

export interface PluginDir {
  readonly dir: string;
  write(name: string, text: string): string;
  remove(): void;
}

/**
 * A folder outside the workspace, as a third party's project: node_modules holds only the
 * host's peers (@gatehouse-proxy/core, tsyringe), linked to the workspace's copies.
 */
export function pluginDir(): PluginDir {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-plugins-"));
  for (const [name, source] of [
    ["@gatehouse-proxy/core", join(REPO_ROOT, "packages", "core")],
    ["tsyringe", join(REPO_ROOT, "node_modules", "tsyringe")],
  ] as const) {
    const target = join(dir, "node_modules", name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(realpathSync(source), target, "dir");
  }
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A working plugin: `users: {name: password}`; `fail_init` makes init() throw. */
export const GOOD_PLUGIN = `
import { Tokens, definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({
  name: "gatehouse-plugin-fixture",
  gatehouse: "^0.1",
  configSchema: z.strictObject({ users: z.record(z.string(), z.string().min(1)), fail_init: z.boolean().optional() }),
  register(container, config, context) {
    let closed = false;
    container.register(Tokens.AuthProvider, {
      useValue: {
        name: context.instanceName,
        async init() { if (config.fail_init) throw new Error("cannot reach the backend"); },
        async authenticate(request) { return config.users[request.username] === request.password; },
        async health() { if (closed) throw new Error("closed"); },
        async close() { closed = true; },
      },
    });
  },
});
`;

export const NO_DEFAULT_EXPORT = `export const plugin = { name: "nameless" };\n`;
export const IMPOSTER = `export default { name: "imposter", gatehouse: "^0.1", register() {} };\n`;
export const THROWS_AT_IMPORT = `throw new Error("boom at import time");\n`;
export const FUTURE_HOST = `
import { definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({ name: "gatehouse-plugin-future", gatehouse: ">=99", configSchema: z.object({}), register() {} });
`;
export const NOT_ZOD_SCHEMA = `
import { definePlugin } from "@gatehouse-proxy/core";
export default definePlugin({ name: "gatehouse-plugin-badschema", gatehouse: "*", configSchema: { parse: (v) => v }, register() {} });
`;
/** Reaches past @gatehouse-proxy/core's `exports` into its build output. */
export const REACHES_INTO_CORE = `
import { AuthPipeline } from "@gatehouse-proxy/core/dist/auth/pipeline.js";
import { definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({ name: "gatehouse-plugin-sneaky", gatehouse: "*", configSchema: z.object({}), register() { void AuthPipeline; } });
`;
