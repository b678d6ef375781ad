import { EventEmitter, once } from "node:events";
import { Worker } from "node:worker_threads";
import { Semaphore, SemaphoreQueueFullError, abortReason } from "@gatehouse-proxy/core";
import type { Release } from "@gatehouse-proxy/core";
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
const CLOSED = "the Lua provider is closed";

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
  readonly resolve: (value: ConvertedValue) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  busy:
    | { readonly id: number; readonly pending: Pending; readonly timer: NodeJS.Timeout; readonly release: Release }
    | undefined;
}

/**
 * A few worker threads, each with its own Lua state loaded from the script. A call goes to an
 * idle worker (or waits its turn for one); one that overruns the deadline gets its worker
 * terminated and replaced, so a runaway library call (a pattern bomb) stops only itself.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** One permit per worker, held while its call runs: later calls wait in arrival order. */
  private readonly permits: Semaphore;
  /** Emits "free" when a worker can take a call: a permit holder waits for it while a worker is replaced. */
  private readonly freed = new EventEmitter();
  private nextId = 1;
  private closed = false;

  private constructor(private readonly options: PoolOptions) {
    this.permits = new Semaphore(options.size, { maxQueue: options.maxQueue });
    this.freed.setMaxListeners(options.size);
  }

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

  async call(input: CallInput, signal: AbortSignal): Promise<ConvertedValue> {
    if (this.closed) throw new LuaCallError(CLOSED);
    const release = await this.permits.acquire(signal).catch((error: unknown) => {
      throw error instanceof SemaphoreQueueFullError ? new LuaCallError("too many queued Lua calls") : error;
    });
    let slot: Slot | undefined;
    try {
      // The signal may have aborted between the grant and now.
      if (signal.aborted) throw abortReason(signal);
      slot = this.idleSlot();
      while (slot === undefined) {
        await once(this.freed, "free", { signal }).catch(() => {
          throw abortReason(signal);
        });
        slot = this.idleSlot();
      }
    } catch (error) {
      release();
      throw error;
    }
    // From here the permit is the worker's: it is given back when the worker is done with the call.
    return this.send(slot, input, signal, release);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.permits.close(new LuaCallError(CLOSED));
    this.freed.emit("free");
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.busy !== undefined) {
          clearTimeout(slot.busy.timer);
          slot.busy.pending.reject(new LuaCallError(CLOSED));
          slot.busy = undefined;
        }
        await slot.worker.terminate();
      }),
    );
  }

  /** A ready worker without a call; there is one for every permit holder unless a worker is being replaced. */
  private idleSlot(): Slot | undefined {
    if (this.closed) throw new LuaCallError(CLOSED);
    return this.slots.find((slot) => slot.ready && slot.busy === undefined);
  }

  /** Runs the call on `slot`; its permit is given back when the worker is done with it. */
  private send(slot: Slot, input: CallInput, signal: AbortSignal, release: Release): Promise<ConvertedValue> {
    return new Promise((resolve, reject) => {
      // A running call is left to finish (bounded by the budget and the deadline); its answer is dropped.
      const onAbort = (): void => reject(abortReason(signal));
      const pending: Pending = {
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
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.replace(slot, `the Lua call took longer than ${String(this.options.callTimeoutMs)} ms; worker replaced`);
      }, this.options.callTimeoutMs);
      slot.busy = { id, pending, timer, release };
      const message: CallMessage = { type: "call", id, ...input };
      slot.worker.postMessage(message);
    });
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
            this.freed.emit("free");
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

  private finish(slot: Slot, message: Extract<WorkerMessage, { type: "result" | "error" }>): void {
    const busy = slot.busy;
    if (busy === undefined || busy.id !== message.id) return;
    clearTimeout(busy.timer);
    slot.busy = undefined;
    busy.release();
    this.freed.emit("free");
    if (message.type === "result") busy.pending.resolve(message.result);
    else busy.pending.reject(new LuaCallError(message.message));
  }

  /** Terminates the slot's worker, fails its call with `reason`, and starts a fresh worker in its place. */
  private replace(slot: Slot, reason: string): void {
    const old = slot.worker;
    const busy = slot.busy;
    slot.busy = undefined;
    slot.ready = false;
    if (busy !== undefined) {
      clearTimeout(busy.timer);
      busy.release();
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
