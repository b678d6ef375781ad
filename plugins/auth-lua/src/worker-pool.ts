import { Worker } from "node:worker_threads";
import type { CallMessage, ConvertedValue, LogLevel, WorkerMessage, WorkerSetup } from "./messages.js";

const WORKER_URL = new URL("./worker/worker-main.js", import.meta.url);
/** fengari's Lua stack limit inside workers (its default, a million slots, costs too much memory). */
const FENGARI_CONF = JSON.stringify({ LUAI_MAXSTACK: 100_000 });
/**
 * Wall-clock limit for a worker to start and run the script's top level (which the
 * instruction budget bounds too); generous, since starting a thread and fengari is slow on a
 * loaded machine.
 */
const LOAD_TIMEOUT_MS = 15_000;
/** Pause before starting another worker when a replacement failed to start. */
const RESPAWN_DELAY_MS = 1000;

export interface PoolOptions {
  readonly setup: WorkerSetup;
  readonly size: number;
  /** Wall-clock limit of one call; the worker is replaced when it passes. */
  readonly callTimeoutMs: number;
  /** Queued calls beyond this are refused. */
  readonly maxQueue: number;
  readonly log: (level: LogLevel, message: string, fields?: object) => void;
}

export type CallInput = Omit<CallMessage, "type" | "id">;

/** A call the script failed (Lua error, budget, deadline, worker crash); the message is already redacted. */
export class LuaCallError extends Error {
  override readonly name = "LuaCallError";
}

interface Pending {
  readonly input: CallInput;
  readonly resolve: (value: ConvertedValue) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  busy: { readonly id: number; readonly pending: Pending; readonly timer: NodeJS.Timeout } | undefined;
}

/**
 * A few worker threads, each with its own Lua state loaded from the script. A call goes to an
 * idle worker (or waits in a FIFO queue); one that overruns the deadline gets its worker
 * terminated and replaced, so a runaway library call (a pattern bomb) stops only itself.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(private readonly options: PoolOptions) {}

  /** Starts every worker and waits until each loaded the script; rejects with the first load error. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      await Promise.all(Array.from({ length: options.size }, () => pool.addSlot()));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  call(input: CallInput, signal: AbortSignal): Promise<ConvertedValue> {
    if (this.closed) return Promise.reject(new LuaCallError("the Lua provider is closed"));
    if (signal.aborted) return Promise.reject(abortError(signal));
    if (this.queue.length >= this.options.maxQueue)
      return Promise.reject(new LuaCallError("too many queued Lua calls"));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const queued = this.queue.indexOf(pending);
        if (queued >= 0) this.queue.splice(queued, 1);
        // A running call is left to finish (bounded by the budget and the deadline); its answer is dropped.
        reject(abortError(signal));
      };
      const pending: Pending = {
        input,
        signal,
        resolve: (value) => {
          signal.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(pending);
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.reject(new LuaCallError("the Lua provider is closed"));
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.busy !== undefined) {
          clearTimeout(slot.busy.timer);
          slot.busy.pending.reject(new LuaCallError("the Lua provider is closed"));
          slot.busy = undefined;
        }
        await slot.worker.terminate();
      }),
    );
  }

  private addSlot(): Promise<void> {
    const slot: Slot = { worker: this.spawn(), ready: false, busy: undefined };
    this.slots.push(slot);
    return this.watch(slot);
  }

  private spawn(): Worker {
    const memoryMb = Math.ceil(this.options.setup.limits.memoryBytes / 2 ** 20);
    const worker = new Worker(WORKER_URL, {
      workerData: this.options.setup,
      env: { FENGARICONF: FENGARI_CONF },
      resourceLimits: { maxOldGenerationSizeMb: memoryMb + 64, maxYoungGenerationSizeMb: 16 },
      // Lua output goes to the logger; anything else a worker writes is dropped, not mixed into the log stream.
      stdout: true,
      stderr: true,
    });
    worker.stdout.resume();
    worker.stderr.resume();
    return worker;
  }

  /** Resolves when the slot's worker is ready, rejects when it cannot load the script. */
  private watch(slot: Slot): Promise<void> {
    const worker = slot.worker;
    return new Promise((resolve, reject) => {
      const loadTimer = setTimeout(() => {
        reject(new LuaCallError(`loading the script took longer than ${String(LOAD_TIMEOUT_MS)} ms`));
        void worker.terminate();
      }, LOAD_TIMEOUT_MS);
      worker.on("message", (message: WorkerMessage) => {
        if (slot.worker !== worker) return;
        switch (message.type) {
          case "ready":
            clearTimeout(loadTimer);
            slot.ready = true;
            resolve();
            this.dispatch();
            return;
          case "load_error":
            clearTimeout(loadTimer);
            reject(new LuaCallError(message.message));
            void worker.terminate();
            return;
          case "log":
            this.options.log(message.level, message.message, { event: "lua_log" });
            return;
          case "result":
          case "error":
            this.finish(slot, message);
            return;
        }
      });
      worker.on("error", (error) => {
        clearTimeout(loadTimer);
        reject(new LuaCallError(`Lua worker failed: ${error.message}`));
        // Only a serving worker is replaced here; a failed start is retried by replace().
        if (slot.worker === worker && slot.ready) this.replace(slot, `Lua worker failed: ${error.message}`);
      });
      worker.on("exit", () => {
        clearTimeout(loadTimer);
        reject(new LuaCallError("Lua worker exited while loading the script"));
        if (slot.worker === worker && slot.ready) this.replace(slot, "Lua worker exited");
      });
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.busy !== undefined) continue;
      const pending = this.queue.shift()!;
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.replace(slot, `the Lua call took longer than ${String(this.options.callTimeoutMs)} ms; worker replaced`);
      }, this.options.callTimeoutMs);
      slot.busy = { id, pending, timer };
      const message: CallMessage = { type: "call", id, ...pending.input };
      slot.worker.postMessage(message);
    }
  }

  private finish(slot: Slot, message: Extract<WorkerMessage, { type: "result" | "error" }>): void {
    const busy = slot.busy;
    if (busy === undefined || busy.id !== message.id) return;
    clearTimeout(busy.timer);
    slot.busy = undefined;
    if (message.type === "result") busy.pending.resolve(message.result);
    else busy.pending.reject(new LuaCallError(message.message));
    this.dispatch();
  }

  /** Terminates the slot's worker, fails its call with `reason`, and starts a fresh worker in its place. */
  private replace(slot: Slot, reason: string): void {
    const old = slot.worker;
    const busy = slot.busy;
    slot.busy = undefined;
    slot.ready = false;
    if (busy !== undefined) {
      clearTimeout(busy.timer);
      busy.pending.reject(new LuaCallError(reason));
    }
    void old.terminate();
    if (this.closed) return;
    this.options.log("warn", "Lua worker replaced", { event: "lua_worker_replaced", reason });
    slot.worker = this.spawn();
    const replacement = slot.worker;
    this.watch(slot).catch((error: unknown) => {
      if (this.closed || slot.worker !== replacement) return;
      this.options.log(
        "error",
        `replacement Lua worker failed to start, retrying in 1 s: ${(error as Error).message}`,
        {
          event: "lua_worker_failed",
        },
      );
      setTimeout(() => {
        if (!this.closed && slot.worker === replacement) this.replace(slot, "retrying a failed worker start");
      }, RESPAWN_DELAY_MS).unref();
    });
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}
