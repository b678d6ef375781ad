import { getHeapStatistics } from "node:v8";
import type { LuaState } from "fengari";
import { lauxlib, lua, to_luastring } from "./runtime.js";

/** Instructions between two checks of the budget and of memory. */
const CHECK_EVERY = 1000;

/**
 * The instruction and memory budget of one run (a call, or the script's top level),
 * enforced by a count hook. Once spent, the hook fires on *every* instruction and raises
 * each time, so a pcall in the script that swallows one error meets the next at its very
 * next instruction; the run's result is discarded (see `exceeded`).
 */
export class Budget {
  private spent = 0;
  private reason: string | undefined;
  private readonly hook = (L: LuaState): void => {
    if (this.reason === undefined) {
      this.spent += CHECK_EVERY;
      if (this.spent > this.instructions)
        this.exhaust(L, `instruction budget of ${String(this.instructions)} exceeded`);
      const heap = getHeapStatistics();
      if (heap.used_heap_size + heap.external_memory > this.memoryBytes) {
        this.exhaust(L, `memory limit of ${String(Math.round(this.memoryBytes / 2 ** 20))} MiB exceeded`);
      }
    }
    if (this.reason !== undefined) lauxlib.luaL_error(L, to_luastring(this.reason));
  };

  constructor(
    private readonly instructions: number,
    private readonly memoryBytes: number,
  ) {}

  /** Starts a fresh budget for the next run. */
  arm(L: LuaState): void {
    this.spent = 0;
    this.reason = undefined;
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, CHECK_EVERY);
  }

  /** Why the run went over budget, or undefined. */
  get exceeded(): string | undefined {
    return this.reason;
  }

  private exhaust(L: LuaState, reason: string): void {
    this.reason = reason;
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, 1);
  }
}
