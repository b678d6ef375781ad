import type { LuaState } from "fengari";
import { lua } from "./runtime.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** How far and how much a conversion may go; cycles, depth and size beyond them are refused. */
export interface ConversionLimits {
  readonly maxDepth: number;
  readonly maxEntries: number;
  /** What an empty table becomes: `[]` (an AuthInfo's empty identities) or `{}` (JSON). */
  readonly emptyTable: "array" | "object";
}

export class ConversionError extends Error {
  override readonly name = "ConversionError";
}

/**
 * Converts the Lua value at `index` to plain data: nil → null, booleans, numbers, strings
 * (valid UTF-8 only), tables with keys 1..n → arrays, tables with string keys → objects.
 * Functions, mixed or sparse keys, invalid UTF-8, cycles and anything over the limits throw
 * a ConversionError. Never calls Lua code (raw access only, no metamethods).
 */
export function luaToPlain(L: LuaState, index: number, limits: ConversionLimits): unknown {
  const state = { entries: 0, open: new Set<object>() };
  const absolute = index < 0 ? lua.lua_gettop(L) + index + 1 : index;
  return convert(L, absolute, limits, state, 0);
}

function convert(
  L: LuaState,
  index: number,
  limits: ConversionLimits,
  state: { entries: number; open: Set<object> },
  depth: number,
): unknown {
  const type = lua.lua_type(L, index);
  switch (type) {
    case lua.LUA_TNIL:
      return null;
    case lua.LUA_TBOOLEAN:
      return lua.lua_toboolean(L, index);
    case lua.LUA_TNUMBER:
      return lua.lua_tonumber(L, index);
    case lua.LUA_TSTRING:
      return decodeString(lua.lua_tostring(L, index) ?? new Uint8Array());
    case lua.LUA_TTABLE:
      return convertTable(L, index, limits, state, depth);
    default:
      throw new ConversionError(`a ${new TextDecoder().decode(lua.lua_typename(L, type))} value`);
  }
}

function convertTable(
  L: LuaState,
  index: number,
  limits: ConversionLimits,
  state: { entries: number; open: Set<object> },
  depth: number,
): unknown {
  if (depth >= limits.maxDepth) throw new ConversionError(`tables nested deeper than ${String(limits.maxDepth)}`);
  const identity = lua.lua_topointer(L, index);
  if (identity === null || state.open.has(identity)) throw new ConversionError("a cyclic table");
  state.open.add(identity);
  if (!lua.lua_checkstack(L, 4)) throw new ConversionError("tables nested too deeply");
  const keyed: Record<string, unknown> = {};
  const sequence: unknown[] = [];
  let integerKeys = 0;
  let stringKeys = 0;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, index)) {
    if (++state.entries > limits.maxEntries) {
      throw new ConversionError(`more than ${String(limits.maxEntries)} table entries`);
    }
    const keyType = lua.lua_type(L, -2);
    const value = convert(L, lua.lua_gettop(L), limits, state, depth + 1);
    if (keyType === lua.LUA_TSTRING) {
      stringKeys++;
      // lua_tostring on a string key does not change it, so lua_next stays valid.
      const key = decodeString(lua.lua_tostring(L, -2) ?? new Uint8Array());
      Object.defineProperty(keyed, key, { value, enumerable: true, writable: true, configurable: true });
    } else if (keyType === lua.LUA_TNUMBER && lua.lua_isinteger(L, -2)) {
      integerKeys++;
      const key = lua.lua_tointeger(L, -2);
      if (key < 1 || key > limits.maxEntries) throw new ConversionError("a table with sparse or non-positive keys");
      sequence[key - 1] = value;
    } else {
      throw new ConversionError("a table key that is neither a string nor an integer");
    }
    lua.lua_pop(L, 1);
  }
  state.open.delete(identity);
  if (integerKeys > 0 && stringKeys > 0) throw new ConversionError("a table mixing array and string keys");
  if (integerKeys > 0) {
    if (sequence.length !== integerKeys) throw new ConversionError("an array with holes");
    return sequence;
  }
  if (stringKeys > 0) return keyed;
  return limits.emptyTable === "array" ? [] : {};
}

function decodeString(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ConversionError("a string that is not valid UTF-8");
  }
}

/** Pushes plain data (JSON.parse output) as Lua values; null becomes nil. */
export function pushPlain(L: LuaState, value: unknown, depth = 0): void {
  if (depth > 64) throw new ConversionError("JSON nested deeper than 64");
  if (!lua.lua_checkstack(L, 3)) throw new ConversionError("JSON nested too deeply");
  if (value === null || value === undefined) lua.lua_pushnil(L);
  else if (typeof value === "boolean") lua.lua_pushboolean(L, value);
  else if (typeof value === "number") {
    if (Number.isInteger(value) && Math.abs(value) <= 2 ** 31 - 1) lua.lua_pushinteger(L, value);
    else lua.lua_pushnumber(L, value);
  } else if (typeof value === "string") lua.lua_pushstring(L, value);
  else if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0);
    value.forEach((item: unknown, position) => {
      pushPlain(L, item, depth + 1);
      lua.lua_rawseti(L, -2, position + 1);
    });
  } else if (typeof value === "object") {
    const entries = Object.entries(value);
    lua.lua_createtable(L, 0, entries.length);
    for (const [key, item] of entries) {
      pushPlain(L, item, depth + 1);
      lua.lua_setfield(L, -2, key);
    }
  } else throw new ConversionError(`a ${typeof value} value`);
}
