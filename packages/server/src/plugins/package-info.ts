import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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

/** The nearest package.json above a module file, or undefined (a loose `.js` file outside any package). */
export function packageInfoOf(moduleUrl: string): PluginPackageInfo | undefined {
  if (!moduleUrl.startsWith("file:")) return undefined;
  for (let dir = dirname(fileURLToPath(moduleUrl)); ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const json = readJson(file);
      // A nested {"type": "module"} marker without a name is not the package's manifest.
      if (json !== undefined && typeof json["name"] === "string") return toInfo(json, dir);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** Reads `<dir>/package.json`, or undefined when it is missing or not JSON. */
export function readPackageInfo(dir: string): PluginPackageInfo | undefined {
  const json = readJson(join(dir, "package.json"));
  return json === undefined ? undefined : toInfo(json, dir);
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
