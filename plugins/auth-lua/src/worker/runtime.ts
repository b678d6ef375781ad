import { createRequire } from "node:module";
import type * as Fengari from "fengari";
import type * as LString from "fengari/src/lstring.js";
import type * as LDebug from "fengari/src/ldebug.js";

const require = createRequire(import.meta.url);

/** The largest string Lua may create in this worker; set once from the config. */
export const stringCap = { bytes: Number.MAX_SAFE_INTEGER };

/**
 * Every Lua string — concatenation results, library results, lexer tokens — is made by
 * lstring's luaS_bless/luaS_new. fengari's modules destructure those at load time, so
 * wrapping the exports *before* the rest of fengari is required caps every string (`..`
 * cannot be hooked otherwise). An oversized string becomes a Lua error at the creation site.
 */
function patchStringConstructors(): void {
  const lstring = require("fengari/src/lstring.js") as typeof LString;
  // Required lazily: loading ldebug loads the modules that must see the patched functions.
  const raise = (L: Fengari.LuaState): never =>
    (require("fengari/src/ldebug.js") as typeof LDebug).luaG_runerror(L, tooBig);
  const bless = lstring.luaS_bless;
  const make = lstring.luaS_new;
  const tooBig = new TextEncoder().encode("string too large (limit max_string_bytes)");
  // Plain functions, not arrows: fengari calls luaS_new with `new` in places.
  lstring.luaS_bless = function (L, bytes) {
    if (bytes.length > stringCap.bytes) raise(L);
    return bless(L, bytes);
  };
  lstring.luaS_new = function (L, bytes) {
    if (bytes.length > stringCap.bytes) raise(L);
    return make(L, bytes);
  };
}

patchStringConstructors();

/** fengari, loaded after the patch. Only the worker imports this module. */
export const fengari = require("fengari") as typeof Fengari;
export const { lua, lauxlib, lualib, to_luastring } = fengari;
