import assert from "node:assert/strict";
import { cpSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, REPO_ROOT, curlThrough, run, startGatehouse, startHttp } from "../helpers/run.js";
import { pluginDir } from "../helpers/plugin-dir.js";

/** A short-form plugin in plain JavaScript: the decorators applied by hand, as compiled TypeScript does. */
function shortFormPlugin(name: string): string {
  return `
import { Tokens, definePlugin, z } from "@gatehouse-proxy/core";
import { inject, injectable } from "tsyringe";
class UsersProvider {
  constructor(config, context) {
    this.name = context.instanceName;
    this.users = config.users;
  }
  async authenticate(request) { return this.users[request.username] === request.password; }
}
inject(Tokens.Config)(UsersProvider, undefined, 0);
inject(Tokens.Context)(UsersProvider, undefined, 1);
injectable()(UsersProvider);
export default definePlugin({
  name: ${JSON.stringify(name)},
  gatehouse: "^0.1",
  configSchema: z.strictObject({ users: z.record(z.string(), z.string()) }),
  provider: UsersProvider,
});
`;
}

function config(use: string): string {
  return [
    "listeners:",
    "  - listen: 127.0.0.1:0",
    "auth:",
    "  chain: [users]",
    "  providers:",
    "    users:",
    `      use: ${use}`,
    "      users: {alice: wonderland}",
    "",
  ].join("\n");
}

const SHARED = "gatehouse-plugin-shared";
const OWN_TSYRINGE = "gatehouse-plugin-own-tsyringe";
const OWN_CORE = "gatehouse-plugin-own-core";
/** Imports a copy of tsyringe shipped inside the package (what a bundler does). */
const BUNDLED_TSYRINGE = "gatehouse-plugin-bundled-tsyringe";
/** Has a nested tsyringe it never imports (register() with a plain object): nothing to refuse. */
const UNUSED_TSYRINGE = "gatehouse-plugin-unused-tsyringe";
const UNUSED_TSYRINGE_PLUGIN = `
import { Tokens, definePlugin, z } from "@gatehouse-proxy/core";
export default definePlugin({
  name: "${UNUSED_TSYRINGE}",
  gatehouse: "^0.1",
  configSchema: z.strictObject({ users: z.record(z.string(), z.string()) }),
  register(container, config, context) {
    container.register(Tokens.AuthProvider, {
      useValue: { name: context.instanceName, async authenticate(request) { return config.users[request.username] === request.password; } },
    });
  },
});
`;

describe("a plugin with its own copy of tsyringe or @gatehouse-proxy/core (the real CLI)", () => {
  const fixture = pluginDir();
  after(() => fixture.remove());
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], fixture.dir, 30_000);

  before(() => {
    for (const name of [SHARED, OWN_TSYRINGE, OWN_CORE, UNUSED_TSYRINGE, BUNDLED_TSYRINGE]) {
      fixture.write(
        `node_modules/${name}/package.json`,
        JSON.stringify({
          name,
          version: "1.0.0",
          type: "module",
          main: "index.js",
          keywords: ["gatehouse-plugin"],
          peerDependencies: { "@gatehouse-proxy/core": "^0.1.0", tsyringe: "^4.10.0" },
        }),
      );
      fixture.write(
        `node_modules/${name}/index.js`,
        name === UNUSED_TSYRINGE
          ? UNUSED_TSYRINGE_PLUGIN
          : name === BUNDLED_TSYRINGE
            ? shortFormPlugin(name).replace(
                'import { inject, injectable } from "tsyringe";',
                'import tsyringe from "./vendor/tsyringe/dist/cjs/index.js";\nconst { inject, injectable } = tsyringe;',
              )
            : shortFormPlugin(name),
      );
      fixture.write(`${name}.yaml`, config(name));
    }
    // What a plugin that lists tsyringe as a dependency (or was installed on its own) carries.
    for (const name of [OWN_TSYRINGE, UNUSED_TSYRINGE]) {
      cpSync(
        realpathSync(join(REPO_ROOT, "node_modules", "tsyringe")),
        join(fixture.dir, "node_modules", name, "node_modules", "tsyringe"),
        { recursive: true, dereference: true },
      );
    }
    cpSync(
      realpathSync(join(REPO_ROOT, "node_modules", "tsyringe")),
      join(fixture.dir, "node_modules", BUNDLED_TSYRINGE, "vendor", "tsyringe"),
      { recursive: true, dereference: true },
    );
    // A nested copy of core, with its dependencies beside it (as npm would install them).
    const nested = join(fixture.dir, "node_modules", OWN_CORE, "node_modules");
    cpSync(join(REPO_ROOT, "packages", "core"), join(nested, "@gatehouse-proxy", "core"), {
      recursive: true,
      filter: (source) => !/[/\\](node_modules|src|test|dist-test)$/.test(source),
    });
    for (const dependency of ["zod", "bcryptjs", "selfsigned"]) {
      const target = join(nested, dependency);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(realpathSync(join(REPO_ROOT, "node_modules", dependency)), target, "dir");
    }
    writeFileSync(join(fixture.dir, "package.json"), JSON.stringify({ name: "app", private: true }));
  });

  it("control: the short form sharing the host's copies verifies, starts and logs a user in", async () => {
    const verify = await cli("plugins", "verify", SHARED, "--config", `${SHARED}.yaml`);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /ok {4}init\(\) resolved|ok {4}no init\(\)/);
    const check = await cli("check-config", `${SHARED}.yaml`);
    assert.equal(check.code, 0, check.stdout + check.stderr);

    const http = await startHttp();
    const gatehouse = await startGatehouse(["--config", `${SHARED}.yaml`], fixture.dir);
    try {
      const allowed = await curlThrough(gatehouse.port, `http://127.0.0.1:${String(http.port)}/x`, "alice:wonderland");
      assert.deepEqual(allowed, { exitCode: 0, stdout: "hello /x" });
      const denied = await curlThrough(gatehouse.port, `http://127.0.0.1:${String(http.port)}/x`, "alice:wrong");
      assert.equal(denied.exitCode, 97);
    } finally {
      await gatehouse.stop();
      http.server.close();
    }
  });

  it("a nested tsyringe the plugin never imports is not refused", async () => {
    const verify = await cli("plugins", "verify", UNUSED_TSYRINGE, "--config", `${UNUSED_TSYRINGE}.yaml`);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.doesNotMatch(verify.stdout, /own copy/);
  });

  const cases = [
    {
      name: OWN_TSYRINGE,
      what: "tsyringe",
      copy: new RegExp(
        `uses its own copy of tsyringe \\([^)]*${OWN_TSYRINGE}/node_modules/tsyringe\\), not the host's`,
      ),
      fix: /Make tsyringe a peerDependency of the plugin .*remove the plugin's nested node_modules\/tsyringe/,
    },
    {
      name: OWN_CORE,
      what: "@gatehouse-proxy/core",
      copy: new RegExp(
        `uses its own copy of @gatehouse-proxy/core \\([^)]*${OWN_CORE}/node_modules/@gatehouse-proxy/core/?\\), not the host's`,
      ),
      fix: /Make @gatehouse-proxy\/core a peerDependency of the plugin .*nested node_modules\/@gatehouse-proxy\/core/,
    },
    {
      name: BUNDLED_TSYRINGE,
      what: "tsyringe, bundled",
      copy: /has a provider class \(UsersProvider\) that the host's tsyringe does not know: mark it @injectable\(\)/,
      fix: /the plugin carries its own copy of tsyringe \(bundled into its code\?\) — make tsyringe a peerDependency/,
    },
  ];
  for (const { name, what, copy, fix } of cases) {
    describe(`its own ${what}`, () => {
      it("plugins verify fails with what is wrong and how to fix it", async () => {
        const result = await cli("plugins", "verify", name);
        assert.equal(result.code, 1, result.stdout + result.stderr);
        assert.match(result.stdout, /FAIL {2}\[GH_PLUGIN_OWN_COPY\]/);
        assert.match(result.stdout, copy);
        assert.match(result.stdout, fix);
        assert.doesNotMatch(result.stdout + result.stderr, /TypeInfo not known/);
      });

      it("check-config fails with the same message", async () => {
        const result = await cli("check-config", `${name}.yaml`);
        assert.notEqual(result.code, 0, result.stdout + result.stderr);
        assert.match(result.stderr, /auth\.providers\.users\.use/);
        assert.match(result.stderr, copy);
        assert.match(result.stderr, fix);
      });

      it("startup fails when the plugin loads, not with TypeInfo not known", async () => {
        const result = await cli("--config", `${name}.yaml`);
        assert.notEqual(result.code, 0, result.stdout + result.stderr);
        assert.match(result.stdout + result.stderr, copy);
        assert.doesNotMatch(result.stdout + result.stderr, /TypeInfo not known|"event":"started"/);
      });
    });
  }
});
