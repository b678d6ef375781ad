import { statSync } from "node:fs";
import { join } from "node:path";

/** How the package is loaded: `import` (what the plugin loader does) or `require`. */
export type EntryKind = "import" | "require";

// Node's default conditions (Node >= 20.19 adds "module-sync" to both); "default" always matches.
const CONDITIONS: Record<EntryKind, ReadonlySet<string>> = {
  import: new Set(["node", "import", "module-sync", "default"]),
  require: new Set(["node", "require", "module-sync", "default"]),
};

/**
 * The file a package folder's entry resolves to, as Node resolves `import "pkg"` or
 * `require("pkg")`: the `"."` export under Node's conditions when the package has `exports`,
 * else `main` (with Node's legacy extension and index.js fallbacks), else `index.js`.
 * Undefined when nothing resolves. `manifest` is the folder's parsed package.json, if any.
 */
export function packageEntry(
  dir: string,
  manifest: Readonly<Record<string, unknown>> | undefined,
  kind: EntryKind,
): string | undefined {
  const exports = manifest?.["exports"];
  if (exports !== undefined && exports !== null) {
    const target = resolveTarget(mainExport(exports), CONDITIONS[kind]);
    return target === undefined ? undefined : join(dir, target);
  }
  const main = manifest?.["main"];
  const candidates =
    typeof main === "string" && main !== ""
      ? [main, `${main}.js`, `${main}.json`, `${main}.node`, join(main, "index.js"), join(main, "index.json")]
      : [];
  candidates.push("index.js", "index.json", "index.node");
  return candidates.map((name) => join(dir, name)).find(isFile);
}

/** The `"."` entry of an `exports` value: a string, an array, a conditions object or a subpath map. */
function mainExport(exports: unknown): unknown {
  if (typeof exports !== "object" || Array.isArray(exports)) return exports;
  const map = exports as Record<string, unknown>;
  return Object.keys(map).some((key) => key.startsWith(".")) ? map["."] : map;
}

/** An exports target under `conditions`: the first matching key in the object's own order, as Node does. */
function resolveTarget(target: unknown, conditions: ReadonlySet<string>): string | undefined {
  if (typeof target === "string") return target.startsWith("./") ? target : undefined;
  if (Array.isArray(target)) {
    for (const item of target) {
      const resolved = resolveTarget(item, conditions);
      if (resolved !== undefined) return resolved;
    }
    return undefined;
  }
  if (typeof target !== "object" || target === null) return undefined;
  for (const [condition, value] of Object.entries(target)) {
    if (!conditions.has(condition)) continue;
    const resolved = resolveTarget(value, conditions);
    if (resolved !== undefined) return resolved;
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
