import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import type { ProviderPlan } from "../plugins/resolve-providers.js";

/** Files larger than this are fingerprinted by size and mtime instead of content. */
const HASHED_FILE_MAX_BYTES = 1 << 20;

/**
 * What makes a provider instance decide as it does: its plugin, name, error handling,
 * validated config, the folder its relative paths resolve against, and the content of every
 * file its config names (a users file, a Lua script, a CA file). Two instances with the same
 * fingerprint decide alike, so the pipeline keeps their cached decisions across a reload. A
 * string that merely looks like a file only makes the check stricter (the cache is dropped).
 */
export async function providerFingerprint(plan: ProviderPlan, configDir: string): Promise<string> {
  const hash = createHash("sha256");
  hash.update(JSON.stringify([plan.plugin.name, plan.instanceName, plan.onError, configDir, plan.config]));
  for (const value of stringsIn(plan.config)) {
    const file = await fileStamp(isAbsolute(value) ? value : resolve(configDir, value));
    if (file !== undefined) hash.update(`\0${value}\0${file}`);
  }
  return hash.digest("base64url");
}

function* stringsIn(value: unknown): Generator<string> {
  if (typeof value === "string") {
    if (value.length > 0 && value.length < 4096 && !value.includes("\0")) yield value;
  } else if (Array.isArray(value)) {
    for (const item of value) yield* stringsIn(item);
  } else if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) yield* stringsIn(item);
  }
}

async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return undefined;
    if (info.size > HASHED_FILE_MAX_BYTES) return `${String(info.size)}@${String(info.mtimeMs)}`;
    return createHash("sha256")
      .update(await readFile(path))
      .digest("base64url");
  } catch {
    return undefined;
  }
}
