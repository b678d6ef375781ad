import { formatPath } from "@gatehouse-proxy/core/engine";

const REFERENCE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces every `${env:NAME}` in string values with the variable's value. A missing variable
 * is a problem naming the path. Keys ending in `_file` are left as they are (plugins read them).
 */
export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  path: readonly PropertyKey[] = [],
): unknown {
  if (typeof value === "string") {
    return value.replace(REFERENCE, (_match, name: string) => {
      const replacement = env[name];
      if (replacement === undefined) {
        problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
        return "";
      }
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteEnv(item, env, problems, [...path, index]));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = key.endsWith("_file") ? item : substituteEnv(item, env, problems, [...path, key]);
    }
    return out;
  }
  return value;
}
