import { GatehouseError } from "@gatehouse-proxy/core";
import { throttleOptionsFromSettings } from "@gatehouse-proxy/core/engine";
import {
  ClusterMetrics,
  DEFAULT_ADMIN_LISTEN,
  createAdminServer,
  stateStoreErrorCounter,
} from "@gatehouse-proxy/observability";
import type { AdminServer } from "@gatehouse-proxy/observability";
import { readConfigSource } from "../config/load.js";
import type { ConfigSource } from "../config/load.js";
import { asGatehouseError } from "../commands/error-report.js";
import { prepareFromSource } from "../commands/prepare.js";
import type { Prepared } from "../commands/prepare.js";
import { createLogger } from "../logging/logger.js";
import { formatAddress } from "../wiring/format-address.js";
import { pipelineSettings } from "../wiring/pipeline-settings.js";
import { openRedisState } from "../state/state-store.js";
import type { RedisStateStore } from "../state/state-store.js";
import { SharedStateHost } from "./shared-state.js";
import { WorkerPool } from "./worker-pool.js";
import { primaryOperator } from "./primary-operator.js";

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
  const throttle = throttleOptionsFromSettings(pipelineSettings(prepared.auth));
  // With `state: {store: redis}` the primary alone talks to Redis: one set of leases per instance.
  const store = await openStore(prepared, logger, throttle);
  const shared = new SharedStateHost(
    throttle,
    Date.now,
    store === undefined
      ? undefined
      : { limits: store.limits, throttle: store.throttle, configureThrottle: (next) => store.configureThrottle(next) },
  );
  const metrics = new ClusterMetrics(() => pool.metrics());
  if (store !== undefined) store.health.onFailure(stateStoreErrorCounter(metrics.primaryRegistry));
  const pool = new WorkerPool({
    count: prepared.workers,
    logger,
    shared,
    source: () => source,
    onRestart: () => metrics.workerRestarted(),
  });
  let admin: AdminServer | undefined;

  /** SIGHUP: validate the file once; a good config goes to every worker, a bad one to none. */
  const reload = async (): Promise<void> => {
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
    if (JSON.stringify(next.admin) !== JSON.stringify(current.admin)) {
      logger.warn({ event: "admin_unchanged" }, "admin settings changed: they take effect at the next restart");
    }
    if (JSON.stringify(next.state) !== JSON.stringify(current.state)) {
      logger.warn({ event: "state_unchanged" }, "state changed: it takes effect at the next restart");
    }
    source = nextSource;
    current = next;
    shared.configure(throttleOptionsFromSettings(pipelineSettings(next.auth)));
    const failed = await pool.reload(source);
    if (failed.length > 0) {
      logger.error(
        { event: "reload_failed", file: source.file, workers_failed: failed },
        "some workers kept the old config",
      );
    } else {
      logger.info({ event: "config_reloaded", workers: next.workers }, "config reloaded in every worker");
    }
  };

  let reloading = Promise.resolve();
  process.on("SIGHUP", () => {
    if (pool.starting) {
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
      await pool.stop(drainMs);
      await admin?.close();
      await store?.close();
      logger.info({ event: "stopped" }, "stopped");
      process.exit(0);
    })();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const accept = WorkerPool.chooseScheduling();
  const how = accept === "shared" ? "each accepts from the shared socket" : "round-robin through the primary";
  logger.info(
    { event: "workers_starting", workers: prepared.workers, accept },
    `starting ${String(prepared.workers)} workers (connections: ${how})`,
  );
  try {
    await pool.start();
  } catch (error) {
    logger.error({ event: "workers_failed", code: asGatehouseError(error).code }, (error as Error).message);
    await store?.close();
    throw error;
  }
  if (stopping !== undefined) return; // a signal during startup: the workers are draining
  const revokeInWorkers = async (identity: string): Promise<void> => {
    const sessions = await pool.revoke(identity);
    logger.info({ event: "revoked", identity, sessions }, `revoked ${identity}: ${String(sessions)} sessions ended`);
  };
  store?.onRevocation((identity) => void revokeInWorkers(identity));

  if (prepared.admin !== undefined) {
    const listen = prepared.admin.listen ?? DEFAULT_ADMIN_LISTEN;
    admin = createAdminServer({
      listen,
      registry: metrics,
      ready: () => pool.ready(),
      revoke: (identity) => (store === undefined ? revokeInWorkers(identity) : store.publishRevocation(identity)),
      operator: primaryOperator(pool, logger),
      logger,
      ...(prepared.admin.token !== undefined && { token: prepared.admin.token }),
    });
    try {
      await admin.start();
    } catch (error) {
      await pool.stop(0);
      await store?.close();
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
      workers: prepared.workers,
      listeners: pool.listeners.map(formatAddress),
      ...(adminAddress !== undefined && { admin: adminAddress }),
    },
    `gatehouse started with ${String(prepared.workers)} workers`,
  );
}

/** `state: {store: redis}`: the store the primary keeps for its workers; undefined for memory. */
async function openStore(
  prepared: Prepared,
  logger: ReturnType<typeof createLogger>,
  throttle: ReturnType<typeof throttleOptionsFromSettings>,
): Promise<RedisStateStore | undefined> {
  if (prepared.state?.store !== "redis") return undefined;
  try {
    return await openRedisState(prepared.state, prepared.configDir, logger, throttle);
  } catch (error) {
    throw new GatehouseError("GH_STARTUP_FAILED", `startup failed: ${(error as Error).message}`, { cause: error });
  }
}
