import { parentPort, workerData } from "node:worker_threads";
import type { LuaState } from "fengari";
import type { CallMessage, ConvertedValue, LogLevel, WorkerMessage, WorkerSetup } from "../messages.js";
import { Budget } from "./budget.js";
import { ConversionError, luaToPlain } from "./lua-values.js";
import { lauxlib, lua, stringCap, to_luastring } from "./runtime.js";
import { createSandbox, pushRegisteredHandler } from "./sandbox.js";

/** One Lua state per worker: the script loads once; module-level state persists across calls. */
const setup = workerData as WorkerSetup;
const port = parentPort;
if (port === null) throw new Error("worker-main runs in a worker thread");

const send = (message: WorkerMessage): void => port.postMessage(message);
let loading = true;
let password = "";

stringCap.bytes = setup.limits.maxStringBytes;
const budget = new Budget(setup.limits.instructions, setup.limits.memoryBytes);
const L = createSandbox(
  {
    log: (level: LogLevel, message: string) => send({ type: "log", level, message: redact(message) }),
    loading: () => loading,
  },
  setup.limits.maxStringBytes,
);

const loaded = loadScript(L);
loading = false;
if (loaded !== undefined) {
  send({ type: "load_error", message: loaded });
} else {
  send({ type: "ready" });
  port.on("message", (message: CallMessage) => {
    try {
      send(call(message));
    } catch (error) {
      // A JavaScript exception escaped fengari: the Lua state cannot be trusted any more.
      send({ type: "error", id: message.id, message: redact(`internal error: ${(error as Error).message}`) });
      process.exit(1);
    }
  });
}

/** Compiles (text only) and runs the top level under the budget; returns an error message or undefined. */
function loadScript(state: LuaState): string | undefined {
  const source = to_luastring(setup.source);
  const status = lauxlib.luaL_loadbufferx(
    state,
    source,
    source.length,
    to_luastring(`@${setup.chunkName}`),
    to_luastring("t"),
  );
  if (status !== lua.LUA_OK) return errorText(state);
  budget.arm(state);
  const ran = lua.lua_pcall(state, 0, 0, 0);
  const exceeded = budget.exceeded;
  lua.lua_sethook(state, null, 0, 0);
  if (exceeded !== undefined) return `${setup.chunkName}: ${exceeded}`;
  if (ran !== lua.LUA_OK) return errorText(state);
  pushHandler(state);
  const found = lua.lua_type(state, -1) === lua.LUA_TFUNCTION;
  lua.lua_settop(state, 0);
  if (found) return undefined;
  return setup.functionName === undefined
    ? `${setup.chunkName}: the script registers no handler: kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta) ... end)`
    : `${setup.chunkName}: the script defines no global function '${setup.functionName}'`;
}

function pushHandler(state: LuaState): void {
  if (setup.functionName === undefined) pushRegisteredHandler(state);
  else lua.lua_getglobal(state, setup.functionName);
}

function call(message: CallMessage): WorkerMessage {
  password = message.password;
  try {
    lua.lua_settop(L, 0);
    pushHandler(L);
    lua.lua_pushstring(L, message.username);
    lua.lua_pushstring(L, message.password);
    lua.lua_createtable(L, 0, 2);
    lua.lua_pushstring(L, message.peerAddress);
    lua.lua_setfield(L, -2, "peer_address");
    lua.lua_pushstring(L, message.localAddress);
    lua.lua_setfield(L, -2, "local_address");
    budget.arm(L);
    const status = lua.lua_pcall(L, 3, 1, 0);
    lua.lua_sethook(L, null, 0, 0);
    const exceeded = budget.exceeded;
    if (exceeded !== undefined) return { type: "error", id: message.id, message: exceeded };
    if (status !== lua.LUA_OK) return { type: "error", id: message.id, message: redact(errorText(L)) };
    return { type: "result", id: message.id, result: convertResult(L) };
  } finally {
    lua.lua_settop(L, 0);
    password = "";
  }
}

/** The handler's return value as plain data; its shape is checked by the core's contract. */
function convertResult(state: LuaState): ConvertedValue {
  try {
    return { kind: "value", value: luaToPlain(state, -1, { maxDepth: 4, maxEntries: 1024, emptyTable: "array" }) };
  } catch (error) {
    if (error instanceof ConversionError) return { kind: "invalid", detail: `the handler returned ${error.message}` };
    throw error;
  }
}

/** The error value on top of the stack as text (a non-string error object is named by its type). */
function errorText(state: LuaState): string {
  if (lua.lua_type(state, -1) === lua.LUA_TSTRING || lua.lua_type(state, -1) === lua.LUA_TNUMBER) {
    return new TextDecoder().decode(lua.lua_tostring(state, -1) ?? new Uint8Array());
  }
  if (lua.lua_type(state, -1) === lua.LUA_TNIL) return "error with no message (nil)";
  return `(error object is a ${new TextDecoder().decode(lua.lua_typename(state, lua.lua_type(state, -1)))} value)`;
}

function redact(text: string): string {
  return password === "" ? text : text.split(password).join("[REDACTED]");
}
