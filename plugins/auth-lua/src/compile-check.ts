import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { lauxlib, lua, to_jsstring, to_luastring } from "fengari";

/** The script's text, or a problem naming the file. */
export async function readScript(file: string): Promise<{ source: string } | { problem: string }> {
  try {
    return { source: await readFile(file, "utf8") };
  } catch (error) {
    return { problem: `${file}: cannot read the script: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
  }
}

/**
 * Compiles the script as text (binary chunks refused) without running it; returns the Lua
 * syntax error (`policy.lua:3: 'end' expected near <eof>`) or undefined.
 */
export function syntaxError(source: string, chunkName: string): string | undefined {
  const L = lauxlib.luaL_newstate();
  try {
    const bytes = to_luastring(source);
    const status = lauxlib.luaL_loadbufferx(L, bytes, bytes.length, to_luastring(`@${chunkName}`), to_luastring("t"));
    if (status === lua.LUA_OK) return undefined;
    const message = lua.lua_tostring(L, -1);
    return message === null ? "the script does not compile" : to_jsstring(message);
  } finally {
    lua.lua_close(L);
  }
}

export function chunkNameOf(file: string): string {
  return basename(file);
}
