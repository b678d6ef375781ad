import { GatehouseError } from "@gatehouse-proxy/core";
import {
  RECOMMENDED_TRIM_THRESHOLD,
  throttleOptionsFromSettings,
  tuneProcessForRelay,
} from "@gatehouse-proxy/core/engine";
import type { Logger as PinoLogger } from "pino";
import { validateConfig } from "../config/load.js";
import { createLogger } from "../logging/logger.js";
import { listenerOptions } from "../wiring/pipeline-settings.js";
import { asGatehouseError, isConfigProblem } from "./error-report.js";
import cluster from "node:cluster";
import { readConfigSource } from "../config/load.js";
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, prepareFromFile, prepareFromSource } from "./prepare.js";
import type { Prepared } from "./prepare.js";
import { runProxy } from "./run.js";
import type { RunOptions, Running } from "./run.js";
import { openRedisState } from "../state/state-store.js";
import type { RedisStateStore } from "../state/state-store.js";
import { pipelineSettings } from "../wiring/pipeline-settings.js";
import { chooseRelay, describeRelay, loadRelayAddon } from "../wiring/relay-choice.js";
import type { RelayChoice, RelayMode } from "../wiring/relay-choice.js";

/** Resolves once `onShutdown` is set (startup done); a failed startup exits the process itself. */
async function waitForStartup(): Promise<void> {
  while (onShutdown === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * `--config FILE`: validate everything, then start; SIGHUP re-reads FILE. With `workers` above
 * 1 this process becomes the primary of that many workers (docs/workers.md); a worker, started
 * by it with the same command line, takes its config from the primary instead.
 */
export async function runConfigCommand(file: string, noSplice = false): Promise<void> {
  if (cluster.isWorker) return (await import("../workers/worker.js")).runWorker(noSplice);
  const source = await readConfigSource(file);
  const prepared = await prepareFromSource(source);
  if (prepared.workers > 1) {
    return (await import("../workers/primary.js")).runPrimary(source, prepared);
  }
  const logger = createLogger(prepared.log);
  let shutdownTimeoutMs = prepared.shutdownTimeoutMs;
  handleShutdown(logger, () => shutdownTimeoutMs);
  const state: { running?: Running } = {};
  process.on("SIGHUP", () => {
    const current = state.running;
    if (current === undefined) {
      logger.warn({ event: "reload_ignored", file }, "SIGHUP during startup ignored");
      return;
    }
    logger.info({ event: "reload", file }, "reloading the config");
    prepareFromFile(file)
      .then(async (next) => {
        await current.reload(next);
        shutdownTimeoutMs = next.shutdownTimeoutMs;
        store?.configureThrottle(throttleOptionsFromSettings(pipelineSettings(next.auth)));
        if (JSON.stringify(next.state) !== JSON.stringify(prepared.state)) {
          logger.warn({ event: "state_unchanged" }, "state changed: it takes effect at the next restart");
        }
      })
      .catch((error: unknown) => {
        const { code, problems } = asGatehouseError(error);
        logger.error(
          { event: "reload_failed", file, code, problems },
          `config reload failed (${code}), the old config keeps running:\n${problems.map((line) => `  ${line}`).join("\n")}`,
        );
      });
  });
  const store = await openStateStore(prepared, logger);
  let started: Running;
  try {
    started = await start(prepared, logger, noSplice, {
      ...(store !== undefined && {
        sharedState: { limits: store.limits, throttle: store.throttle },
        stateHealth: store.health,
        publishRevocation: (identity: string) => store.publishRevocation(identity),
      }),
    });
  } catch (error) {
    await store?.close();
    throw error;
  }
  state.running = started;
  store?.onRevocation((identity) => started.revoke(identity));
  onShutdown = async (timeoutMs) => {
    await started.stop({ drainMs: timeoutMs });
    await store?.close();
  };
}

/** `state: {store: redis}`: the fleet-wide store this process uses; undefined for memory. */
async function openStateStore(prepared: Prepared, logger: PinoLogger): Promise<RedisStateStore | undefined> {
  if (prepared.state?.store !== "redis") return undefined;
  try {
    return await openRedisState(
      prepared.state,
      prepared.configDir,
      logger,
      throttleOptionsFromSettings(pipelineSettings(prepared.auth)),
    );
  } catch (error) {
    throw new GatehouseError("GH_STARTUP_FAILED", `startup failed: ${(error as Error).message}`, { cause: error });
  }
}

/** KumoMTA's legacy flags: listeners from `--listen`, no auth providers. */
export async function runFlagsCommand(
  listen: readonly string[],
  timeoutSeconds: number,
  noSplice = false,
): Promise<void> {
  const config = validateConfig({
    listeners: listen.map((address) => ({ listen: address, timeout: Math.round(timeoutSeconds * 1000) })),
  });
  const prepared: Prepared = {
    listeners: listenerOptions(config.listeners),
    auth: undefined,
    log: undefined,
    admin: undefined,
    shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
    relay: "auto",
    workers: 1,
    plans: [],
    configDir: process.cwd(),
  };
  const logger = createLogger(undefined);
  handleShutdown(logger, () => prepared.shutdownTimeoutMs);
  const running = await start(prepared, logger, noSplice);
  onShutdown = (timeoutMs) => running.stop({ drainMs: timeoutMs });
}

/**
 * Picks the relay (`--no-splice` forces the JS relay, as KumoMTA's flag does), sets the process
 * up for relaying and says how in one `relay` line (README "Relay performance").
 */
async function prepareRelay(mode: RelayMode, logger: PinoLogger): Promise<RelayChoice> {
  const choice = await chooseRelay(mode);
  const addon = await loadRelayAddon();
  const runtime = tuneProcessForRelay(process.env, addon?.tuneAllocator);
  const advice =
    runtime.heapTrim === "glibc-default"
      ? `; glibc hands freed heap back to the kernel and the JS relay faults it in again: start gatehouse with ` +
        `MALLOC_TRIM_THRESHOLD_=${String(RECOMMENDED_TRIM_THRESHOLD)} for faster relaying (README "Relay performance")`
      : "";
  logger.info(
    {
      event: "relay",
      relay: choice.relay,
      ...(choice.relay === "js" && { reason: choice.reason }),
      incremental_marking: runtime.incrementalMarking,
      heap_trim: runtime.heapTrim,
    },
    `relay: ${describeRelay(choice)}${advice}`,
  );
  return choice;
}

export async function start(
  prepared: Prepared,
  logger: PinoLogger,
  noSplice: boolean,
  options: RunOptions = {},
): Promise<Running> {
  try {
    const choice = await prepareRelay(noSplice ? "js" : prepared.relay, logger);
    return await runProxy(prepared, logger, choice.relay === "splice" ? choice.backend : undefined, options);
  } catch (error) {
    // A config problem found only now keeps its code and lines; anything else failed to start.
    if (error instanceof GatehouseError && (isConfigProblem(error.code) || error.code === "GH_RELAY_UNAVAILABLE")) {
      throw error;
    }
    const code = error instanceof GatehouseError ? error.code : "GH_STARTUP_FAILED";
    throw new GatehouseError(code, `startup failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/** What SIGTERM/SIGINT runs once the proxy is up; before that, a signal waits for startup. */
let onShutdown: ((drainMs: number) => Promise<void>) | undefined;

/**
 * SIGTERM/SIGINT: stop accepting, drain tunnels up to the shutdown timeout, close providers,
 * exit 0. Installed before startup so an early signal is not fatal; a second signal is.
 */
function handleShutdown(logger: PinoLogger, drainMs: () => number): void {
  const stop = (signal: NodeJS.Signals): void => {
    const timeout = drainMs();
    logger.info({ event: "shutdown", signal, drain_ms: timeout }, "shutting down: draining tunnels");
    waitForStartup()
      .then(() => onShutdown?.(timeout))
      .then(
        () => {
          logger.info({ event: "stopped" }, "stopped");
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ event: "shutdown_failed", err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
