import type { LuaCFunction, LuaState } from "fengari";
import { lauxlib, lua, to_luastring } from "./runtime.js";

/**
 * Output-growing library functions checked *before* they allocate, so a script cannot make
 * fengari build a huge buffer that the string cap would only refuse afterwards:
 * string.rep, string.format, table.concat and string.gsub. string.pack (which pads to any
 * requested size) and string.dump are removed.
 */
export function guardStringFunctions(L: LuaState, capBytes: number): void {
  const tooLarge = (name: string): never =>
    lauxlib.luaL_error(L, to_luastring(`${name}: result would exceed max_string_bytes`));

  wrap(L, "string", "rep", (original) => (state) => {
    const length = lauxlib.luaL_checkstring(state, 1).length;
    const count = lauxlib.luaL_checkinteger(state, 2);
    const separator = lauxlib.luaL_optstring(state, 3, "").length;
    if (count > 0 && length * count + separator * (count - 1) > capBytes) tooLarge("string.rep");
    if (length + separator === 0) {
      // fengari would still loop `count` times to build nothing.
      lua.lua_pushliteral(state, "");
      return 1;
    }
    return original(state);
  });

  wrap(L, "string", "format", (original) => (state) => {
    const format = lauxlib.luaL_checkstring(state, 1);
    // A conversion writes at most its argument (strings) or 99 width + 99 precision + a number.
    let bound = format.length;
    for (let arg = 2; arg <= lua.lua_gettop(state); arg++) {
      bound += 512 + (lua.lua_type(state, arg) === lua.LUA_TSTRING ? lua.lua_rawlen(state, arg) : 0);
    }
    if (bound > capBytes) tooLarge("string.format");
    return original(state);
  });

  wrap(L, "table", "concat", (original) => (state) => {
    lauxlib.luaL_checktype(state, 1, lua.LUA_TTABLE);
    const separator = lauxlib.luaL_optstring(state, 2, "").length;
    const first = lauxlib.luaL_optinteger(state, 3, 1);
    const last =
      lua.lua_type(state, 4) <= lua.LUA_TNIL ? lauxlib.luaL_len(state, 1) : lauxlib.luaL_checkinteger(state, 4);
    let total = 0;
    for (let position = first; position <= last; position++) {
      lua.lua_rawgeti(state, 1, position);
      total += (lua.lua_type(state, -1) === lua.LUA_TSTRING ? lua.lua_rawlen(state, -1) : 32) + separator;
      lua.lua_pop(state, 1);
      if (total > capBytes) tooLarge("table.concat");
    }
    return original(state);
  });

  wrap(L, "string", "gsub", (original) => (state) => {
    const subject = lauxlib.luaL_checkstring(state, 1).length;
    const replacementType = lua.lua_type(state, 3);
    if (replacementType === lua.LUA_TSTRING || replacementType === lua.LUA_TNUMBER) {
      // Each match writes the replacement, with %0..%9 each at most the whole subject.
      let perMatch = 0;
      const replacement = lua.lua_tostring(state, 3) ?? new Uint8Array();
      for (let i = 0; i < replacement.length; i++) {
        if (replacement[i] === 0x25 && i + 1 < replacement.length && replacement[i + 1] !== 0x25) {
          perMatch += subject;
          i++;
        } else perMatch += 1;
      }
      if (subject + (subject + 1) * perMatch > capBytes) tooLarge("string.gsub");
    } else if (replacementType === lua.LUA_TFUNCTION || replacementType === lua.LUA_TTABLE) {
      // Count what the function or table hands back as gsub goes.
      let written = subject;
      lua.lua_pushvalue(state, 3);
      lua.lua_pushcclosure(
        state,
        (inner) => {
          const args = lua.lua_gettop(inner);
          lua.lua_pushvalue(inner, lua.lua_upvalueindex(1));
          if (replacementType === lua.LUA_TTABLE) {
            lua.lua_pushvalue(inner, 1);
            lua.lua_gettable(inner, -2);
          } else {
            lua.lua_insert(inner, 1);
            lua.lua_call(inner, args, 1);
          }
          if (lua.lua_type(inner, -1) === lua.LUA_TSTRING) written += lua.lua_rawlen(inner, -1);
          if (written > capBytes) tooLarge("string.gsub");
          return 1;
        },
        1,
      );
      lua.lua_replace(state, 3);
    }
    return original(state);
  });

  remove(L, "string", "dump");
  remove(L, "string", "pack");
}

/** Replaces library.name in place (the string metatable's __index is the same table). */
function wrap(L: LuaState, library: string, name: string, make: (original: LuaCFunction) => LuaCFunction): void {
  lua.lua_getglobal(L, library);
  lua.lua_getfield(L, -1, name);
  const original = lua.lua_tocfunction(L, -1);
  lua.lua_pop(L, 1);
  if (original === null) throw new Error(`${library}.${name} is not a library function`);
  lua.lua_pushjsfunction(L, make(original));
  lua.lua_setfield(L, -2, name);
  lua.lua_pop(L, 1);
}

function remove(L: LuaState, library: string, name: string): void {
  lua.lua_getglobal(L, library);
  lua.lua_pushnil(L);
  lua.lua_setfield(L, -2, name);
  lua.lua_pop(L, 1);
}
