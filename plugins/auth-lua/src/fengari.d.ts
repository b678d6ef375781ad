/**
 * The part of fengari 0.1.5 (a Lua 5.3 VM in JavaScript) this plugin uses. fengari ships no
 * types; Lua strings are byte arrays (Uint8Array), so 8-bit-clean values survive.
 */
declare module "fengari" {
  export type LuaString = Uint8Array;
  /** A Lua thread; opaque outside fengari. */
  export interface LuaState {
    readonly __luaState: never;
  }
  export type LuaCFunction = (L: LuaState) => number;
  export type LuaHook = (L: LuaState, ar: unknown) => void;

  export function to_luastring(value: string): LuaString;
  export function to_jsstring(value: LuaString): string;

  export const lua: {
    readonly LUA_OK: number;
    readonly LUA_MULTRET: number;
    readonly LUA_MASKCOUNT: number;
    readonly LUA_TNIL: number;
    readonly LUA_TBOOLEAN: number;
    readonly LUA_TNUMBER: number;
    readonly LUA_TSTRING: number;
    readonly LUA_TTABLE: number;
    readonly LUA_TFUNCTION: number;
    readonly LUA_REGISTRYINDEX: number;
    lua_upvalueindex(index: number): number;
    lua_pushcclosure(L: LuaState, fn: LuaCFunction, upvalues: number): void;
    lua_tocfunction(L: LuaState, index: number): LuaCFunction | null;
    lua_replace(L: LuaState, index: number): void;
    lua_insert(L: LuaState, index: number): void;
    lua_call(L: LuaState, nargs: number, nresults: number): void;
    lua_gettable(L: LuaState, index: number): number;
    lua_close(L: LuaState): void;
    lua_sethook(L: LuaState, hook: LuaHook | null, mask: number, count: number): void;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_error(L: LuaState): never;
    lua_gettop(L: LuaState): number;
    lua_settop(L: LuaState, index: number): void;
    lua_pop(L: LuaState, count: number): void;
    lua_pushvalue(L: LuaState, index: number): void;
    lua_checkstack(L: LuaState, extra: number): boolean;
    lua_type(L: LuaState, index: number): number;
    lua_typename(L: LuaState, type: number): LuaString;
    lua_toboolean(L: LuaState, index: number): boolean;
    lua_tonumber(L: LuaState, index: number): number;
    lua_isinteger(L: LuaState, index: number): boolean;
    lua_tointeger(L: LuaState, index: number): number;
    lua_isstring(L: LuaState, index: number): boolean;
    /** The string at index (numbers are converted in place), or null. */
    lua_tostring(L: LuaState, index: number): LuaString | null;
    lua_topointer(L: LuaState, index: number): object | null;
    lua_pushnil(L: LuaState): void;
    lua_pushboolean(L: LuaState, value: boolean): void;
    lua_pushinteger(L: LuaState, value: number): void;
    lua_pushnumber(L: LuaState, value: number): void;
    lua_pushstring(L: LuaState, value: LuaString | string): LuaString;
    lua_pushliteral(L: LuaState, value: string): LuaString;
    lua_pushjsfunction(L: LuaState, fn: LuaCFunction): void;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_newtable(L: LuaState): void;
    lua_getfield(L: LuaState, index: number, key: LuaString | string): number;
    lua_setfield(L: LuaState, index: number, key: LuaString | string): void;
    lua_getglobal(L: LuaState, name: LuaString | string): number;
    lua_setglobal(L: LuaState, name: LuaString | string): void;
    lua_rawgeti(L: LuaState, index: number, n: number): number;
    lua_rawseti(L: LuaState, index: number, n: number): void;
    lua_rawlen(L: LuaState, index: number): number;
    lua_next(L: LuaState, index: number): boolean;
    lua_getmetatable(L: LuaState, index: number): boolean;
  };

  export const lauxlib: {
    luaL_newstate(): LuaState;
    luaL_requiref(L: LuaState, name: LuaString, open: LuaCFunction, global: number): void;
    luaL_loadbufferx(L: LuaState, buffer: LuaString, size: number, name: LuaString, mode: LuaString): number;
    luaL_error(L: LuaState, format: LuaString, ...args: unknown[]): never;
    luaL_checkstring(L: LuaState, arg: number): LuaString;
    luaL_optstring(L: LuaState, arg: number, fallback: LuaString | string): LuaString;
    luaL_checkinteger(L: LuaState, arg: number): number;
    luaL_optinteger(L: LuaState, arg: number, fallback: number): number;
    luaL_checktype(L: LuaState, arg: number, type: number): void;
    luaL_checkany(L: LuaState, arg: number): void;
    luaL_len(L: LuaState, index: number): number;
    /** Pushes the value at index converted with tostring semantics and returns it. */
    luaL_tolstring(L: LuaState, index: number): LuaString;
  };

  export const lualib: {
    luaopen_base: LuaCFunction;
    luaopen_string: LuaCFunction;
    luaopen_table: LuaCFunction;
    luaopen_math: LuaCFunction;
    luaopen_utf8: LuaCFunction;
    luaopen_os: LuaCFunction;
  };
}

/** fengari's string constructor module, patched before the VM loads to cap string sizes. */
declare module "fengari/src/lstring.js" {
  import type { LuaState } from "fengari";
  export let luaS_bless: (L: LuaState, bytes: Uint8Array) => unknown;
  export let luaS_new: (L: LuaState, bytes: Uint8Array) => unknown;
}

/** fengari's error raiser, used from the patched string constructors. */
declare module "fengari/src/ldebug.js" {
  import type { LuaState } from "fengari";
  export function luaG_runerror(L: LuaState, format: Uint8Array): never;
}
