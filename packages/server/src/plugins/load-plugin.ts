import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { isPluginDefinition } from "@gatehouse-proxy/core/engine";
import { GatehouseError } from "@gatehouse-proxy/core";
import type { PluginDefinition } from "@gatehouse-proxy/core";
import satisfies from "semver/functions/satisfies.js";
import validRange from "semver/ranges/valid.js";
import { locatePackage } from "./locate.js";
import { packageEntry } from "./package-entry.js";
import { readManifest } from "./package-info.js";
import { ownCopyProblem } from "./shared-copies.js";
import { parseUse } from "./specifier.js";
import { syntaxErrorLocation } from "./syntax-location.js";

/**
 * Turns a `use:` value into a plugin definition, or throws a GatehouseError: GH_PLUGIN_NOT_INSTALLED,
 * GH_PLUGIN_LOAD_FAILED, GH_PLUGIN_NOT_A_PLUGIN, GH_PLUGIN_OWN_COPY (its own copy of core or
 * tsyringe) or GH_PLUGIN_VERSION_MISMATCH.
 * `where` is the config path of the `use:` key, used in every message.
 */
export async function loadPlugin(
  use: string,
  configDir: string,
  where: string,
  host: string,
): Promise<PluginDefinition> {
  return (await loadPluginModule(use, configDir, where, host)).definition;
}

/** A loaded plugin and where its module came from. */
export interface LoadedPlugin {
  readonly definition: PluginDefinition;
  /** The file URL of the module that was imported. */
  readonly url: string;
}

/** loadPlugin, also telling which module file was imported (for `gatehouse plugins`). */
export async function loadPluginModule(
  use: string,
  configDir: string,
  where: string,
  host: string,
): Promise<LoadedPlugin> {
  const specifier = parseUse(use, configDir);
  let url: string;
  if (specifier.kind === "path") {
    if (!existsSync(specifier.path)) {
      throw new GatehouseError("GH_PLUGIN_NOT_INSTALLED", `${where}: plugin file ${specifier.path} does not exist`);
    }
    url = pathToFileURL(pluginFile(specifier.path, where)).href;
  } else {
    const located = locatePackage(specifier.name, configDir);
    if (!located.found) {
      if (located.installed || located.cause !== undefined) {
        throw new GatehouseError(
          "GH_PLUGIN_LOAD_FAILED",
          `${where}: plugin ${specifier.name} is installed but failed to load: ${causeText(located.cause ?? "its entry point cannot be resolved")}`,
          { cause: located.cause },
        );
      }
      throw new GatehouseError(
        "GH_PLUGIN_NOT_INSTALLED",
        `${where}: plugin ${specifier.name} is not installed; install it with: npm install ${specifier.name}`,
      );
    }
    url = located.url;
  }
  const label = specifier.kind === "path" ? use : specifier.name;

  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    const location = error instanceof SyntaxError ? syntaxErrorLocation(url) : undefined;
    const at = location === undefined ? "" : ` at ${location}`;
    throw new GatehouseError(
      "GH_PLUGIN_LOAD_FAILED",
      `${where}: plugin ${label} failed to load: ${causeText(error)}${at}`,
      {
        cause: error,
      },
    );
  }
  const definition = module.default;
  if (definition === undefined) {
    throw new GatehouseError(
      "GH_PLUGIN_NOT_A_PLUGIN",
      `${where}: ${label} is not a Gatehouse plugin (it has no default export; export default definePlugin({...}) from @gatehouse-proxy/core)`,
    );
  }
  if (!isPluginDefinition(definition)) {
    throw new GatehouseError(
      "GH_PLUGIN_NOT_A_PLUGIN",
      `${where}: ${label} is not a Gatehouse plugin (its default export is not the result of definePlugin() from @gatehouse-proxy/core)`,
    );
  }
  const ownCopy = ownCopyProblem(definition, url);
  if (ownCopy !== undefined) {
    throw new GatehouseError("GH_PLUGIN_OWN_COPY", `${where}: plugin ${definition.name} (${label}) ${ownCopy}`);
  }
  if (
    validRange(definition.gatehouse) === null ||
    !satisfies(host, definition.gatehouse, { includePrerelease: true })
  ) {
    throw new GatehouseError(
      "GH_PLUGIN_VERSION_MISMATCH",
      `${where}: plugin ${definition.name} needs Gatehouse ${definition.gatehouse}, but this is Gatehouse ${host}`,
    );
  }
  return { definition, url };
}

/** A plugin path names a file, or a package folder whose entry Node would import. */
function pluginFile(path: string, where: string): string {
  if (!statSync(path).isDirectory()) return path;
  const manifest = readManifest(path);
  if (manifest === undefined && existsSync(join(path, "package.json"))) {
    throw new GatehouseError(
      "GH_PLUGIN_LOAD_FAILED",
      `${where}: plugin folder ${path}: package.json is not a JSON object`,
    );
  }
  const entry = packageEntry(path, manifest, "import");
  if (entry === undefined) {
    throw new GatehouseError(
      "GH_PLUGIN_LOAD_FAILED",
      `${where}: plugin folder ${path} has no entry point: no "exports" "." or "main" in a package.json, and no index.js`,
    );
  }
  return entry;
}

function causeText(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
