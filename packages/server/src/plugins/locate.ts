import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { packageRoot } from "./specifier.js";

export type Located =
  | { readonly found: true; readonly url: string }
  | { readonly found: false; readonly installed: boolean; readonly cause?: unknown };

/**
 * Finds a package's entry point, from the config file's folder first and then from the
 * server's own location. `installed` tells a missing package from one that is there but
 * cannot be resolved (a broken `exports`, a missing entry file).
 */
export function locatePackage(name: string, configDir: string): Located {
  const bases = [join(configDir, "gatehouse.config"), fileURLToPath(import.meta.url)];
  let cause: unknown;
  for (const base of bases) {
    try {
      return { found: true, url: pathToFileURL(createRequire(base).resolve(name)).href };
    } catch (error) {
      cause ??= isNotFound(error) ? undefined : error;
    }
  }
  try {
    // Packages whose `exports` offer only the "import" condition.
    return { found: true, url: import.meta.resolve(name) };
  } catch (error) {
    cause ??= isNotFound(error) ? undefined : error;
  }
  const installed = bases.some((base) => hasPackageDir(dirname(base), packageRoot(name)));
  return cause === undefined ? { found: false, installed } : { found: false, installed, cause };
}

function hasPackageDir(from: string, root: string): boolean {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "node_modules", root, "package.json"))) return true;
    if (dirname(dir) === dir) return false;
  }
}

function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND";
}
