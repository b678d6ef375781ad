/** What the provider (main thread) and a Lua worker say to each other. */

/** Per-worker limits, from the config. */
export interface LuaLimits {
  /** VM instructions one call (or the script's top level) may run. */
  readonly instructions: number;
  /** The largest string the script may create, in bytes. */
  readonly maxStringBytes: number;
  /** Heap plus buffers the worker may hold while running Lua, in bytes. */
  readonly memoryBytes: number;
}

/** workerData: everything a worker needs to load the script. */
export interface WorkerSetup {
  readonly source: string;
  /** Shown in Lua error messages (`policy.lua:12: ...`). */
  readonly chunkName: string;
  /** A global function to call instead of the `kumo.on` handler. */
  readonly functionName: string | undefined;
  readonly limits: LuaLimits;
}

export interface CallMessage {
  readonly type: "call";
  readonly id: number;
  readonly username: string;
  readonly password: string;
  readonly peerAddress: string;
  readonly localAddress: string;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** The handler's return value, converted to plain JSON-like data (`invalid` when it could not be). */
export type ConvertedValue =
  { readonly kind: "value"; readonly value: unknown } | { readonly kind: "invalid"; readonly detail: string };

export type WorkerMessage =
  | { readonly type: "ready" }
  | { readonly type: "load_error"; readonly message: string }
  | { readonly type: "log"; readonly level: LogLevel; readonly message: string }
  | { readonly type: "result"; readonly id: number; readonly result: ConvertedValue }
  | { readonly type: "error"; readonly id: number; readonly message: string };
