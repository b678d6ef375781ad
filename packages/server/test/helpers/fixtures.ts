import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES_ROOT } from "./paths.js";

/** A temp folder under packages/server/test-fixtures-tmp (git-ignored; so @gatehouse-proxy/core resolves), removed by `remove()`. */
export function makeFixtureDir(): { dir: string; write(name: string, text: string): string; remove(): void } {
  mkdirSync(FIXTURES_ROOT, { recursive: true });
  const dir = mkdtempSync(join(FIXTURES_ROOT, "case-"));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    remove() {
      // The shared root stays: removing it when empty raced with another test file's mkdtemp.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A plugin whose provider checks `users: {name: password}` inline; `fail_init` makes init() throw. */
/**
 * Cheap scrypt parameters (the lowest the records accept) for records in tests that are not about
 * the KDF's cost: a login against the default (ln=15) costs the proxy ~150 ms of CPU.
 */
export const CHEAP_SCRYPT = { ln: 10, r: 8, p: 1 } as const;

export const INLINE_PLUGIN = `
import { Tokens, definePlugin, z } from "@gatehouse-proxy/core";

export default definePlugin({
  name: "fixture-inline",
  gatehouse: "*",
  configSchema: z.strictObject({
    users: z.record(z.string(), z.string().min(1)),
    fail_init: z.boolean().optional(),
  }),
  register(container, config, context) {
    container.register(Tokens.AuthProvider, {
      useValue: {
        name: context.instanceName,
        async init() {
          if (config.fail_init) throw new Error("backend down");
        },
        async authenticate(request) {
          return config.users[request.username] === request.password;
        },
      },
    });
  },
});
`;

export const THROWING_PLUGIN = `throw new Error("boom at import time");\n`;

export const NOT_A_PLUGIN = `export default { name: "imposter", register() {} };\n`;

export const FUTURE_PLUGIN = `
import { definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({ name: "fixture-future", gatehouse: ">=99", configSchema: z.object({}), register() {} });
`;

/** A static user: a password record, or one with groups. */
export type StaticUser = string | { readonly record: string; readonly groups: readonly string[] };

/** The `auth:` section of a config with one static provider, `local`, knowing alice (and `others`). */
export function staticAuthLines(alice: StaticUser, others: Readonly<Record<string, StaticUser>> = {}): string[] {
  const line = (name: string, user: StaticUser): string =>
    typeof user === "string"
      ? `        ${name}: { password: "${user}" }`
      : `        ${name}: { password: "${user.record}", groups: [${user.groups.join(", ")}] }`;
  return [
    "auth:",
    "  provider: local",
    "  providers:",
    "    local:",
    "      use: static",
    "      users:",
    line("alice", alice),
    ...Object.entries(others).map(([name, user]) => line(name, user)),
  ];
}
