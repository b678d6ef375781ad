import cluster from "node:cluster";
import type { Worker } from "node:cluster";
import type { AddressInfo } from "node:net";
import { GatehouseError } from "@gatehouse-proxy/core";
import { throttleOptionsFromSettings } from "@gatehouse-proxy/core/engine";
import { ClusterMetrics, DEFAULT_ADMIN_LISTEN, createAdminServer } from "@gatehouse-proxy/observability";
import type { AdminServer, WorkerMetrics } from "@gatehouse-proxy/observability";
import { readConfigSource } from "../config/load.js";
import type { ConfigSource } from "../config/load.js";
import { asGatehouseError } from "../commands/error-report.js";
import { prepareFromSource } from "../commands/prepare.js";
import type { Prepared } from "../commands/prepare.js";
import { createLogger } from "../logging/logger.js";
import { pipelineSettings } from "../wiring/pipeline-settings.js";
import { formatAddress } from "../wiring/format-address.js";
import { RespawnBackoff } from "./backoff.js";
import { RpcPeer } from "./rpc.js";
import type { Message } from "./rpc.js";
import { SharedStateHost } from "./shared-state.js";
import { WORKER_ID_ENV } from "./worker-protocol.js";
import type { ReloadRequest, ShutdownRequest, StartedNote } from "./worker-protocol.js";

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

/**
 * The `workers` primary: validates the config, starts N workers (node:cluster) that each run
 * the engine and providers, keeps the state that must be exact across them (connection limits,
 * the failure throttle), owns the admin listener (metrics summed over the workers, ready when
 * every worker is), reloads them all on SIGHUP, drains them on SIGTERM/SIGINT, and replaces a
 * worker that dies. It serves no traffic and starts no provider itself.
 */
export async function runPrimary(initial: ConfigSource, prepared: Prepared): Promise<void> {
  const logger = createLogger(prepared.log);
  let source = initial;
  let current = prepared;
  const count = prepared.workers;
  const host = new SharedStateHost(throttleOptionsFromSettings(pipelineSettings(prepared.auth)));
  const slots: WorkerSlot[] = Array.from({ length: count }, (_, index) => ({
    id: index + 1,
    process: undefined,
    peer: undefined,
    serving: false,
    startedAt: 0,
    backoff: new RespawnBackoff(),
  }));
  let phase: "starting" | "running" | "stopping" = "starting";
  let listeners: readonly AddressInfo[] = [];
  const startup: { resolve(): void; reject(error: Error): void; promise?: Promise<void> } = {
    resolve: () => undefined,
    reject: () => undefined,
  };
  startup.promise = new Promise<void>((resolve, reject) => Object.assign(startup, { resolve, reject }));
  const exits = new Set<Promise<void>>();
  const metrics = new ClusterMetrics(() => collectMetrics(slots));

  const fork = (slot: WorkerSlot): void => {
    const worker = cluster.fork({ [WORKER_ID_ENV]: String(slot.id) });
    slot.process = worker;
    slot.serving = false;
    slot.startedAt = Date.now();
    const peer = new RpcPeer(worker, {
      request: (body) => (body.type === "config" ? source : answerShared(slot.id, body)),
      note: (body) => {
        if (body.type === "started") return onStarted(slot, body as StartedNote);
        host.apply(body);
      },
    });
    slot.peer = peer;
    // Sends report their failures to RpcPeer; anything else the channel says goes to the log.
    worker.on("error", (error: Error) => {
      logger.debug({ event: "worker_channel_error", worker_id: slot.id, err: error }, "worker IPC channel error");
    });
    const exited = new Promise<void>((resolve) => {
      worker.once("exit", (code: number | null, signal: NodeJS.Signals | null) => {
        peer.closed(`worker ${String(slot.id)} exited`);
        host.forgetWorker(slot.id);
        if (slot.process === worker) {
          slot.process = undefined;
          slot.peer = undefined;
          slot.serving = false;
        }
        onExit(slot, code, signal);
        resolve();
      });
    });
    exits.add(exited);
    void exited.then(() => exits.delete(exited));
  };

  const answerShared = (worker: number, body: Message): unknown => {
    const reply = host.answer(worker, body);
    if (reply === undefined) throw new Error(`unknown request ${body.type}`);
    return reply;
  };

  const onStarted = (slot: WorkerSlot, note: StartedNote): void => {
    slot.serving = true;
    listeners = note.listeners;
    if (phase === "running") {
      logger.info({ event: "worker_replaced", worker_id: slot.id }, `worker ${String(slot.id)} is serving again`);
    }
    if (phase === "starting" && slots.every((candidate) => candidate.serving)) startup.resolve();
  };

  const onExit = (slot: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void => {
    if (phase === "stopping") return;
    const fields = { worker_id: slot.id, exit_code: code, signal };
    if (phase === "starting") {
      startup.reject(
        new GatehouseError(
          "GH_WORKERS_FAILED",
          `worker ${String(slot.id)} exited (${signal ?? `code ${String(code)}`}) before it started serving; its error is above`,
        ),
      );
      return;
    }
    const delayMs = slot.backoff.next(Date.now() - slot.startedAt);
    metrics.workerRestarted();
    logger.error(
      { event: "worker_exited", ...fields, restart_in_ms: delayMs },
      `worker ${String(slot.id)} exited (${signal ?? `code ${String(code)}`}); starting it again in ${String(delayMs)} ms`,
    );
    setTimeout(() => {
      if (phase === "running") fork(slot);
    }, delayMs).unref();
  };

  const stopWorkers = async (drainMs: number): Promise<void> => {
    phase = "stopping";
    const request: ShutdownRequest = { type: "shutdown", drainMs };
    for (const slot of slots) slot.peer?.request(request, drainMs + EXIT_GRACE_MS).catch(() => undefined);
    const killTimer = setTimeout(() => {
      for (const slot of slots) slot.process?.process.kill("SIGKILL");
    }, drainMs + EXIT_GRACE_MS);
    await Promise.all(exits);
    clearTimeout(killTimer);
  };

  let reloading = Promise.resolve();
  let admin: AdminServer | undefined;
  process.on("SIGHUP", () => {
    if (phase === "starting") {
      logger.warn({ event: "reload_ignored", file: source.file }, "SIGHUP during startup ignored");
      return;
    }
    reloading = reloading.then(reload);
  });
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping !== undefined) return;
    const drainMs = current.shutdownTimeoutMs;
    logger.info({ event: "shutdown", signal, drain_ms: drainMs }, "shutting down: draining every worker");
    stopping = (async () => {
      await reloading;
      await stopWorkers(drainMs);
      await admin?.close();
      logger.info({ event: "stopped" }, "stopped");
      process.exit(0);
    })();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  logger.info({ event: "workers_starting", workers: count }, `starting ${String(count)} workers`);
  for (const slot of slots) fork(slot);
  try {
    await startup.promise;
  } catch (error) {
    logger.error({ event: "workers_failed", code: asGatehouseError(error).code }, (error as Error).message);
    await stopWorkers(0);
    throw error;
  }
  if (stopping !== undefined) return; // SIGTERM during startup: the workers are draining
  phase = "running";

  if (prepared.admin !== undefined) {
    const listen = prepared.admin.listen ?? DEFAULT_ADMIN_LISTEN;
    admin = createAdminServer({ listen, registry: metrics, ready: () => allReady(slots) });
    try {
      await admin.start();
    } catch (error) {
      await stopWorkers(0);
      throw new GatehouseError(
        "GH_STARTUP_FAILED",
        `admin.listen ${listen}: cannot listen: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  const adminAddress = admin === undefined ? undefined : formatAddress(admin.address());
  logger.info(
    {
      event: "started",
      workers: count,
      listeners: listeners.map(formatAddress),
      ...(adminAddress !== undefined && { admin: adminAddress }),
    },
    `gatehouse started with ${String(count)} workers`,
  );

  /** SIGHUP: validate the file once; a good config goes to every worker, a bad one to none. */
  async function reload(): Promise<void> {
    if (phase !== "running") return;
    logger.info({ event: "reload", file: source.file }, "reloading the config");
    let next: Prepared;
    let nextSource: ConfigSource;
    try {
      nextSource = await readConfigSource(source.file);
      next = await prepareFromSource(nextSource);
    } catch (error) {
      const { code, problems } = asGatehouseError(error);
      logger.error(
        { event: "reload_failed", file: source.file, code, problems },
        `config reload failed (${code}), no worker was changed:\n${problems.map((line) => `  ${line}`).join("\n")}`,
      );
      return;
    }
    if (next.workers !== current.workers) {
      logger.warn({ event: "workers_unchanged" }, "workers changed: it takes effect at the next restart");
    }
    source = nextSource;
    current = next;
    host.configure(throttleOptionsFromSettings(pipelineSettings(next.auth)));
    const request: ReloadRequest = { type: "reload", source };
    const results = await Promise.allSettled(
      slots.map(async (slot) => {
        if (slot.peer === undefined) return; // restarting: it starts on the new config
        await slot.peer.request(request, RELOAD_TIMEOUT_MS);
      }),
    );
    const failed = results.flatMap((result, index) =>
      result.status === "rejected" ? [{ worker_id: index + 1, error: (result.reason as Error).message }] : [],
    );
    if (failed.length > 0) {
      logger.error(
        { event: "reload_failed", file: source.file, workers_failed: failed },
        "some workers kept the old config",
      );
    } else {
      logger.info({ event: "config_reloaded", workers: count }, "config reloaded in every worker");
    }
  }
}

async function collectMetrics(slots: readonly WorkerSlot[]): Promise<WorkerMetrics[]> {
  const answers = await Promise.allSettled(
    slots.map(async (slot) => {
      if (!slot.serving || slot.peer === undefined) return undefined;
      const metrics = await slot.peer.request<WorkerMetrics["metrics"]>({ type: "metrics" }, WORKER_ANSWER_TIMEOUT_MS);
      return { worker: slot.id, metrics };
    }),
  );
  return answers.flatMap((answer) =>
    answer.status === "fulfilled" && answer.value !== undefined ? [answer.value] : [],
  );
}

/** Ready when every worker is serving and its providers are healthy. */
async function allReady(slots: readonly WorkerSlot[]): Promise<void> {
  await Promise.all(
    slots.map(async (slot) => {
      if (!slot.serving || slot.peer === undefined) throw new Error(`worker ${String(slot.id)} is not serving`);
      try {
        await slot.peer.request({ type: "ready" }, WORKER_ANSWER_TIMEOUT_MS);
      } catch (error) {
        throw new Error(`worker ${String(slot.id)}: ${(error as Error).message}`, { cause: error });
      }
    }),
  );
}
