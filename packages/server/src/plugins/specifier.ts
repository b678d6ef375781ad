import { isAbsolute, resolve } from "node:path";

/** Short names map only to our own plugins: no name squatting. */
export const SHORT_NAMES: ReadonlySet<string> = new Set(["static", "ldap", "redis", "webhook", "lua"]);

export type PluginSpecifier =
  { readonly kind: "path"; readonly path: string } | { readonly kind: "package"; readonly name: string };

/** What a `use:` value names: a path relative to the config file, or a package. */
export function parseUse(use: string, configDir: string): PluginSpecifier {
  if (use.startsWith("./") || use.startsWith("../") || isAbsolute(use)) {
    return { kind: "path", path: resolve(configDir, use) };
  }
  if (SHORT_NAMES.has(use)) return { kind: "package", name: `@gatehouse-proxy/auth-${use}` };
  return { kind: "package", name: use };
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
export function packageRoot(name: string): string {
  const parts = name.split("/");
  return name.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}
