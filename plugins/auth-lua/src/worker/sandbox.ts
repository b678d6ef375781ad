import type { LuaCFunction, LuaState } from "fengari";
import type { LogLevel } from "../messages.js";
import { luaToPlain, pushPlain } from "./lua-values.js";
import { lauxlib, lua, lualib, to_luastring } from "./runtime.js";
import { guardStringFunctions } from "./string-guards.js";

/** The globals a script sees; `_G` holds exactly these (tested). */
export const ALLOWED_GLOBALS: readonly string[] = [
  "_G",
  "_VERSION",
  "assert",
  "error",
  "getmetatable",
  "ipairs",
  "next",
  "pairs",
  "pcall",
  "print",
  "rawequal",
  "rawget",
  "rawlen",
  "rawset",
  "select",
  "setmetatable",
  "tonumber",
  "tostring",
  "type",
  "xpcall",
  "string",
  "table",
  "math",
  "utf8",
  "os",
  "kumo",
];

const REMOVED_FROM_BASE = ["load", "loadstring", "dofile", "loadfile", "collectgarbage", "require"];
const OS_FUNCTIONS = ["time", "clock", "date"];
const HANDLER_KEY = "gatehouse.handler.proxy_server_auth_rfc1929";
const AUTH_EVENT = "proxy_server_auth_rfc1929";
const MAX_LOG_CHARS = 4096;

export interface SandboxHost {
  log(level: LogLevel, message: string): void;
  /** kumo.on is accepted only while the script's top level runs. */
  readonly loading: () => boolean;
}

/**
 * A Lua state with base (minus loaders and collectgarbage), string, table, math and utf8,
 * an `os` with only time/clock/date, `print` and kumo.log_* routed to the host's logger,
 * and the `kumo` table. No io, debug, package, coroutine or JavaScript interop.
 */
export function createSandbox(host: SandboxHost, maxStringBytes: number): LuaState {
  const L = lauxlib.luaL_newstate();
  const open = (name: string, opener: LuaCFunction, global: boolean): void => {
    lauxlib.luaL_requiref(L, to_luastring(name), opener, global ? 1 : 0);
    lua.lua_pop(L, 1);
  };
  open("_G", lualib.luaopen_base, true);
  open("string", lualib.luaopen_string, true);
  open("table", lualib.luaopen_table, true);
  open("math", lualib.luaopen_math, true);
  open("utf8", lualib.luaopen_utf8, true);
  for (const name of REMOVED_FROM_BASE) {
    lua.lua_pushnil(L);
    lua.lua_setglobal(L, name);
  }
  installOs(L);
  guardStringFunctions(L, maxStringBytes);
  lua.lua_pushjsfunction(L, logFunction(host, "info"));
  lua.lua_setglobal(L, "print");
  installKumo(L, host);
  return L;
}

/** Pushes the registered `proxy_server_auth_rfc1929` handler (or nil). */
export function pushRegisteredHandler(L: LuaState): void {
  lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, HANDLER_KEY);
}

function installOs(L: LuaState): void {
  lauxlib.luaL_requiref(L, to_luastring("os"), lualib.luaopen_os, 0);
  lua.lua_createtable(L, 0, OS_FUNCTIONS.length);
  for (const name of OS_FUNCTIONS) {
    lua.lua_getfield(L, -2, name);
    lua.lua_setfield(L, -2, name);
  }
  lua.lua_setglobal(L, "os");
  lua.lua_pop(L, 1);
}

function installKumo(L: LuaState, host: SandboxHost): void {
  lua.lua_createtable(L, 0, 8);
  const define = (name: string, fn: LuaCFunction): void => {
    lua.lua_pushjsfunction(L, fn);
    lua.lua_setfield(L, -2, name);
  };
  const registered = new Set<string>();
  define("on", (state) => {
    const event = new TextDecoder().decode(lauxlib.luaL_checkstring(state, 1));
    lauxlib.luaL_checktype(state, 2, lua.LUA_TFUNCTION);
    if (!host.loading())
      lauxlib.luaL_error(state, to_luastring("kumo.on: handlers are registered when the script loads"));
    if (registered.has(event)) {
      lauxlib.luaL_error(state, to_luastring(`kumo.on: a handler for '${event}' is already registered`));
    }
    registered.add(event);
    if (event === AUTH_EVENT) {
      lua.lua_pushvalue(state, 2);
      lua.lua_setfield(state, lua.LUA_REGISTRYINDEX, HANDLER_KEY);
    } else {
      host.log("warn", `kumo.on: event '${event}' is not used by Gatehouse; its handler never runs`);
    }
    return 0;
  });
  define("json_encode", (state) => {
    lauxlib.luaL_checkany(state, 1);
    let text: string;
    try {
      text = JSON.stringify(luaToPlain(state, 1, { maxDepth: 64, maxEntries: 100_000, emptyTable: "object" }));
    } catch (error) {
      return lauxlib.luaL_error(state, to_luastring(`kumo.json_encode: cannot encode ${(error as Error).message}`));
    }
    lua.lua_pushstring(state, text);
    return 1;
  });
  define("json_decode", (state) => {
    const bytes = lauxlib.luaL_checkstring(state, 1);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      return lauxlib.luaL_error(state, to_luastring(`kumo.json_decode: ${(error as Error).message}`));
    }
    try {
      pushPlain(state, value);
    } catch (error) {
      return lauxlib.luaL_error(state, to_luastring(`kumo.json_decode: ${(error as Error).message}`));
    }
    return 1;
  });
  for (const level of ["debug", "info", "warn", "error"] as const) define(`log_${level}`, logFunction(host, level));
  lua.lua_setglobal(L, "kumo");
}

/** print-like: tostring of each argument, tab-separated, truncated. */
function logFunction(host: SandboxHost, level: LogLevel): LuaCFunction {
  return (state) => {
    const parts: string[] = [];
    const count = lua.lua_gettop(state);
    for (let arg = 1; arg <= count; arg++) {
      parts.push(new TextDecoder().decode(lauxlib.luaL_tolstring(state, arg)));
      lua.lua_pop(state, 1);
    }
    const message = parts.join("\t");
    host.log(level, message.length > MAX_LOG_CHARS ? `${message.slice(0, MAX_LOG_CHARS)}…` : message);
    return 0;
  };
}
