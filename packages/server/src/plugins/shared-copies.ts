import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { sep } from "node:path";
import { fileURLToPath } from "node:url";
import { coreLocationOf } from "@gatehouse-proxy/core/engine";
import type { PluginDefinition } from "@gatehouse-proxy/core";

const hostRequire = createRequire(import.meta.url);

/**
 * A plugin must share the host's copies of tsyringe and @gatehouse-proxy/core: with its own
 * copy, its `@injectable()` classes are unknown to the host's container (tsyringe fails later
 * with `TypeInfo not known`). Returns what is wrong and how to fix it, or undefined when the
 * plugin uses the host's copies and its provider class is known to the host's tsyringe.
 * `moduleUrl` is the plugin module the host imported.
 */
export function ownCopyProblem(definition: PluginDefinition, moduleUrl: string): string | undefined {
  const hostCore = realPath(coreFolder());
  const pluginCore = coreLocationOf(definition);
  if (pluginCore !== undefined && hostCore !== undefined && realPath(pluginCore) !== hostCore) {
    return (
      `uses its own copy of @gatehouse-proxy/core (${realPath(pluginCore) ?? pluginCore}), not the host's (${hostCore}). ` +
      "Make @gatehouse-proxy/core a peerDependency of the plugin (not a dependency, not bundled) and remove the " +
      "plugin's nested node_modules/@gatehouse-proxy/core, so it shares the host's copy"
    );
  }
  const hostTsyringe = realPath(resolveFrom(hostRequire, "tsyringe"));
  const pluginTsyringe = realPath(resolveFrom(createRequire(fileURLToPath(moduleUrl)), "tsyringe"));
  // Only a copy the plugin actually loaded counts (Node's CJS cache, keyed by real path): a
  // nested tsyringe a plugin never imports does no harm.
  if (
    hostTsyringe !== undefined &&
    pluginTsyringe !== undefined &&
    pluginTsyringe !== hostTsyringe &&
    hostRequire.cache[pluginTsyringe] !== undefined
  ) {
    return (
      `uses its own copy of tsyringe (${packageFolder(pluginTsyringe, "tsyringe")}), not the host's ` +
      `(${packageFolder(hostTsyringe, "tsyringe")}); two copies do not share @injectable() registrations. ` +
      "Make tsyringe a peerDependency of the plugin (not a dependency, not bundled) and remove the plugin's " +
      "nested node_modules/tsyringe, so it shares the host's copy"
    );
  }
  const provider = definition.provider;
  const known = injectableClasses();
  if (provider !== undefined && provider.length > 0 && known !== undefined && !known.has(provider)) {
    return (
      `has a provider class (${provider.name}) that the host's tsyringe does not know: mark it @injectable() ` +
      "with @inject(Tokens.X) on each constructor parameter; if it is marked, the plugin carries its own copy of " +
      "tsyringe (bundled into its code?) — make tsyringe a peerDependency of the plugin and do not bundle it"
    );
  }
  return undefined;
}

/**
 * The classes the host's tsyringe has seen `@injectable()` on: its internal `typeInfo` map
 * (tsyringe 4.x). Undefined when that internal is not there, and the check is skipped.
 */
function injectableClasses(): ReadonlyMap<unknown, unknown> | undefined {
  try {
    const internal = hostRequire("tsyringe/dist/cjs/dependency-container.js") as { typeInfo?: unknown };
    return internal.typeInfo instanceof Map ? internal.typeInfo : undefined;
  } catch {
    return undefined;
  }
}

function coreFolder(): string | undefined {
  const manifest = resolveFrom(hostRequire, "@gatehouse-proxy/core/package.json");
  return manifest === undefined ? undefined : manifest.slice(0, -"package.json".length);
}

function resolveFrom(require: NodeJS.Require, specifier: string): string | undefined {
  try {
    return require.resolve(specifier);
  } catch {
    return undefined; // not resolvable from there: nothing to compare
  }
}

function realPath(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** `/a/node_modules/tsyringe/dist/cjs/index.js` → `/a/node_modules/tsyringe`. */
function packageFolder(file: string, name: string): string {
  const marker = `${sep}node_modules${sep}${name}${sep}`;
  const at = file.lastIndexOf(marker);
  return at === -1 ? file : file.slice(0, at + marker.length - 1);
}
