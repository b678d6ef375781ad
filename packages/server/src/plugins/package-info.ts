import { readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packageEntry } from "./package-entry.js";

/** What `gatehouse plugins` shows and checks about the package a plugin module belongs to. */
export interface PluginPackageInfo {
  readonly name: string | undefined;
  readonly version: string | undefined;
  readonly keywords: readonly string[];
  readonly peerDependencies: Readonly<Record<string, string>>;
  readonly dependencies: Readonly<Record<string, string>>;
  /** The package's folder. */
  readonly dir: string;
}

/** Who a plugin module belongs to: a package (the module is its entry) or nobody (a loose file). */
export type ModuleOwner =
  | { readonly kind: "package"; readonly info: PluginPackageInfo }
  | {
      readonly kind: "loose";
      /** The nearest package.json above the file, when there is one: a package whose entry is another file. */
      readonly enclosing?: { readonly dir: string; readonly entry: string | undefined };
    };

/**
 * A module file belongs to a package only when it is that package's entry (`exports` "." or
 * `main`, resolved as Node does for `import` or `require`); a package folder belongs to its own
 * package.json. Any other file — a `./my-plugin.js` kept inside some app — is a loose file, even
 * with the app's package.json above it: that manifest describes the app, not the plugin.
 */
export function moduleOwnerOf(moduleUrl: string): ModuleOwner {
  if (!moduleUrl.startsWith("file:")) return { kind: "loose" };
  const path = fileURLToPath(moduleUrl);
  const folder = isDirectory(path) ? namedManifest(path) : undefined;
  if (folder !== undefined) return { kind: "package", info: toInfo(folder, path) };
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const json = namedManifest(dir);
    if (json !== undefined) {
      const entries = (["import", "require"] as const).map((kind) => packageEntry(dir, json, kind));
      const file = realPath(path);
      if (entries.some((entry) => entry !== undefined && realPath(entry) === file)) {
        return { kind: "package", info: toInfo(json, dir) };
      }
      return { kind: "loose", enclosing: { dir, entry: entries[0] } };
    }
    if (dirname(dir) === dir) return { kind: "loose" };
  }
}

/** The package a plugin module is the entry of, or undefined for a loose file (see moduleOwnerOf). */
export function packageInfoOf(moduleUrl: string): PluginPackageInfo | undefined {
  const owner = moduleOwnerOf(moduleUrl);
  return owner.kind === "package" ? owner.info : undefined;
}

/** `<dir>/package.json` when it names a package; a nested {"type": "module"} marker without a name is not a manifest. */
function namedManifest(dir: string): Record<string, unknown> | undefined {
  const json = readManifest(dir);
  return json !== undefined && typeof json["name"] === "string" ? json : undefined;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Reads `<dir>/package.json`, or undefined when it is missing or not JSON. */
export function readPackageInfo(dir: string): PluginPackageInfo | undefined {
  const json = readManifest(dir);
  return json === undefined ? undefined : toInfo(json, dir);
}

/** `<dir>/package.json` parsed, or undefined when it is missing or not a JSON object. */
export function readManifest(dir: string): Record<string, unknown> | undefined {
  return readJson(join(dir, "package.json"));
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function toInfo(json: Record<string, unknown>, dir: string): PluginPackageInfo {
  const strings = (value: unknown): string[] =>
    Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
  const record = (value: unknown): Record<string, string> =>
    typeof value === "object" && value !== null
      ? Object.fromEntries(
          Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
        )
      : {};
  return {
    name: typeof json["name"] === "string" ? json["name"] : undefined,
    version: typeof json["version"] === "string" ? json["version"] : undefined,
    keywords: strings(json["keywords"]),
    peerDependencies: record(json["peerDependencies"]),
    dependencies: record(json["dependencies"]),
    dir,
  };
}
