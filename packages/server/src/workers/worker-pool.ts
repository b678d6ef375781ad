import cluster from "node:cluster";
import type { Worker } from "node:cluster";
import type { AddressInfo } from "node:net";
import { GatehouseError } from "@gatehouse-proxy/core";
import type { Revoked } from "@gatehouse-proxy/core/engine";
import type { WorkerMetrics } from "@gatehouse-proxy/observability";
import type { Logger as PinoLogger } from "pino";
import type { ConfigSource } from "../config/load.js";
import { RespawnBackoff } from "./backoff.js";
import { RpcPeer } from "./rpc.js";
import type { Message } from "./rpc.js";
import type { SharedStateHost } from "./shared-state.js";
import { WORKER_ID_ENV } from "./worker-protocol.js";
import type { ReloadRequest, RevokeRequest, ShutdownRequest, StartedNote } from "./worker-protocol.js";

/** How long the primary waits for a worker's metrics or readiness answer. */
const WORKER_ANSWER_TIMEOUT_MS = 2000;
/** How long a worker may take to apply a reload (provider init included). */
const RELOAD_TIMEOUT_MS = 60_000;
/** After the drain deadline, how long workers get to exit before they are killed. */
const EXIT_GRACE_MS = 5000;

/** One worker number (1..N) and the process currently serving under it. */
interface WorkerSlot {
  readonly id: number;
  process: Worker | undefined;
  peer: RpcPeer | undefined;
  /** Said `started`: listening and serving. */
  serving: boolean;
  startedAt: number;
  readonly backoff: RespawnBackoff;
}

export interface WorkerPoolOptions {
  readonly count: number;
  readonly logger: PinoLogger;
  /** The limits and throttle the workers share. */
  readonly shared: SharedStateHost;
  /** The config text a (re)started worker runs: the last one the primary validated. */
  readonly source: () => ConfigSource;
  /** A worker is being started again after it exited. */
  readonly onRestart?: () => void;
}

/**
 * N worker processes under node:cluster: started together, each one started again when it
 * dies (at once, then with back-off), asked for metrics and readiness, reloaded and drained.
 */
export class WorkerPool {
  private readonly slots: WorkerSlot[];
  private phase: "starting" | "running" | "stopping" = "starting";
  private readonly exits = new Set<Promise<void>>();
  private startupFailed: ((error: Error) => void) | undefined;
  private startupDone: (() => void) | undefined;
  /** The listeners' addresses, as the first worker to serve reported them. */
  listeners: readonly AddressInfo[] = [];

  constructor(private readonly options: WorkerPoolOptions) {
    this.slots = Array.from({ length: options.count }, (_, index) => ({
      id: index + 1,
      process: undefined,
      peer: undefined,
      serving: false,
      startedAt: 0,
      backoff: new RespawnBackoff(),
    }));
  }

  /**
   * How connections reach the workers. Default: each worker accepts from the shared socket
   * (SCHED_NONE), which costs the primary nothing per connection; round-robin through the
   * primary spreads a burst of long-lived tunnels more evenly but costs it ~100 µs per
   * connection (docs/workers.md "Measured"). `NODE_CLUSTER_SCHED_POLICY=rr` chooses it.
   */
  static chooseScheduling(env: NodeJS.ProcessEnv = process.env): "shared" | "round-robin" {
    cluster.schedulingPolicy = env.NODE_CLUSTER_SCHED_POLICY === "rr" ? cluster.SCHED_RR : cluster.SCHED_NONE;
    return cluster.schedulingPolicy === cluster.SCHED_RR ? "round-robin" : "shared";
  }

  get starting(): boolean {
    return this.phase === "starting";
  }

  /** Starts every worker; rejects with GH_WORKERS_FAILED when one exits before it serves (the others are stopped). */
  async start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => {
      this.startupDone = resolve;
      this.startupFailed = reject;
    });
    for (const slot of this.slots) this.fork(slot);
    try {
      await started;
    } catch (error) {
      await this.stop(0);
      throw error;
    }
    if (this.phase === "starting") this.phase = "running";
  }

  /** Sends the config to every worker; resolves with the workers that kept the old one. */
  async reload(source: ConfigSource): Promise<{ readonly worker_id: number; readonly error: string }[]> {
    const request: ReloadRequest = { type: "reload", source };
    const results = await Promise.allSettled(
      // A worker that is restarting starts on the new config.
      this.slots.map((slot) => slot.peer?.request(request, RELOAD_TIMEOUT_MS) ?? Promise.resolve()),
    );
    return results.flatMap((result, index) =>
      result.status === "rejected" ? [{ worker_id: index + 1, error: (result.reason as Error).message }] : [],
    );
  }

  /** Every worker drains up to `drainMs` and exits; one still alive 5 s later is killed. */
  async stop(drainMs: number): Promise<void> {
    this.phase = "stopping";
    const request: ShutdownRequest = { type: "shutdown", drainMs };
    for (const slot of this.slots) slot.peer?.request(request, drainMs + EXIT_GRACE_MS).catch(() => undefined);
    const killTimer = setTimeout(() => {
      for (const slot of this.slots) slot.process?.process.kill("SIGKILL");
    }, drainMs + EXIT_GRACE_MS);
    await Promise.all(this.exits);
    clearTimeout(killTimer);
  }

  /** Every serving worker ends `identity`'s tunnels and forgets its cached logins; resolves with the sessions ended. */
  async revoke(identity: string): Promise<number> {
    const request: RevokeRequest = { type: "revoke", identity };
    const answers = await Promise.allSettled(
      this.serving().map(([, peer]) => peer.request<Revoked>(request, WORKER_ANSWER_TIMEOUT_MS)),
    );
    return answers.reduce((sum, answer) => sum + (answer.status === "fulfilled" ? answer.value.sessions : 0), 0);
  }

  /**
   * Asks each serving worker the request `requestFor` gives it (none: not asked); resolves with
   * the answers by worker number, ascending. A worker that fails or does not answer in time is
   * left out; `failed` names it.
   */
  async askEach(
    requestFor: (worker: number) => Message | undefined,
  ): Promise<{ answers: { worker: number; answer: unknown }[]; failed: number[] }> {
    const asked = this.serving().flatMap(([slot, peer]) => {
      const request = requestFor(slot.id);
      return request === undefined
        ? []
        : [{ worker: slot.id, pending: peer.request<unknown>(request, WORKER_ANSWER_TIMEOUT_MS) }];
    });
    const settled = await Promise.allSettled(asked.map(({ pending }) => pending));
    const answers: { worker: number; answer: unknown }[] = [];
    const failed: number[] = [];
    settled.forEach((result, index) => {
      const { worker } = asked[index]!;
      if (result.status === "fulfilled") answers.push({ worker, answer: result.value });
      else failed.push(worker);
    });
    return { answers: answers.sort((a, b) => a.worker - b.worker), failed };
  }

  /** The metrics of every worker that is serving (one that does not answer in time is left out). */
  async metrics(): Promise<WorkerMetrics[]> {
    const answers = await Promise.allSettled(
      this.serving().map(async ([slot, peer]) => ({
        worker: slot.id,
        metrics: await peer.request<WorkerMetrics["metrics"]>({ type: "metrics" }, WORKER_ANSWER_TIMEOUT_MS),
      })),
    );
    return answers.flatMap((answer) => (answer.status === "fulfilled" ? [answer.value] : []));
  }

  /** Resolves when every worker serves and its providers are healthy; rejects naming the first that is not. */
  async ready(): Promise<void> {
    await Promise.all(
      this.slots.map(async (slot) => {
        if (!slot.serving || slot.peer === undefined) throw new Error(`worker ${String(slot.id)} is not serving`);
        try {
          await slot.peer.request({ type: "ready" }, WORKER_ANSWER_TIMEOUT_MS);
        } catch (error) {
          throw new Error(`worker ${String(slot.id)}: ${(error as Error).message}`, { cause: error });
        }
      }),
    );
  }

  private serving(): [WorkerSlot, RpcPeer][] {
    return this.slots.flatMap((slot) => (slot.serving && slot.peer !== undefined ? [[slot, slot.peer]] : []));
  }

  private fork(slot: WorkerSlot): void {
    const { logger, shared } = this.options;
    const worker = cluster.fork({ [WORKER_ID_ENV]: String(slot.id) });
    slot.process = worker;
    slot.serving = false;
    slot.startedAt = Date.now();
    const peer = new RpcPeer(worker, {
      request: (body) => (body.type === "config" ? this.options.source() : answerShared(shared, slot.id, body)),
      note: (body) => {
        if (body.type === "started") this.onStarted(slot, body as StartedNote);
        else shared.apply(body);
      },
    });
    slot.peer = peer;
    // Failed sends reach RpcPeer's callbacks; anything else the channel says goes to the log.
    worker.on("error", (error: Error) => {
      logger.debug({ event: "worker_channel_error", worker_id: slot.id, err: error }, "worker IPC channel error");
    });
    const exited = new Promise<void>((resolve) => {
      worker.once("exit", (code: number | null, signal: NodeJS.Signals | null) => {
        peer.closed(`worker ${String(slot.id)} exited`);
        shared.forgetWorker(slot.id);
        slot.process = undefined;
        slot.peer = undefined;
        slot.serving = false;
        this.onExit(slot, signal ?? `code ${String(code)}`, { exit_code: code, signal });
        resolve();
      });
    });
    this.exits.add(exited);
    void exited.then(() => this.exits.delete(exited));
  }

  private onStarted(slot: WorkerSlot, note: StartedNote): void {
    slot.serving = true;
    if (this.listeners.length === 0) this.listeners = note.listeners;
    if (this.phase === "running") {
      this.options.logger.info(
        { event: "worker_replaced", worker_id: slot.id },
        `worker ${String(slot.id)} is serving again`,
      );
    }
    if (this.phase === "starting" && this.slots.every((candidate) => candidate.serving)) this.startupDone?.();
  }

  private onExit(slot: WorkerSlot, how: string, fields: object): void {
    if (this.phase === "stopping") return;
    if (this.phase === "starting") {
      this.startupFailed?.(
        new GatehouseError(
          "GH_WORKERS_FAILED",
          `worker ${String(slot.id)} exited (${how}) before it started serving; its error is above`,
        ),
      );
      return;
    }
    const delayMs = slot.backoff.next(Date.now() - slot.startedAt);
    this.options.onRestart?.();
    this.options.logger.error(
      { event: "worker_exited", worker_id: slot.id, ...fields, restart_in_ms: delayMs },
      `worker ${String(slot.id)} exited (${how}); starting it again in ${String(delayMs)} ms`,
    );
    setTimeout(() => {
      if (this.phase === "running") this.fork(slot);
    }, delayMs).unref();
  }
}

function answerShared(shared: SharedStateHost, worker: number, body: Message): unknown {
  const reply = shared.answer(worker, body);
  if (reply === undefined) throw new Error(`unknown request ${body.type}`);
  return reply;
}
