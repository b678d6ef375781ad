import type { Logger as PinoLogger } from "pino";
import type { ConfigSource } from "../config/load.js";
import { createLogger } from "../logging/logger.js";
import { asGatehouseError } from "../commands/error-report.js";
import { prepareFromSource } from "../commands/prepare.js";
import type { Prepared } from "../commands/prepare.js";
import { start } from "../commands/run-command.js";
import type { Running } from "../commands/run.js";
import { RpcPeer } from "./rpc.js";
import type { Message } from "./rpc.js";
import { SharedStateClient } from "./shared-state.js";
import { WORKER_ID_ENV } from "./worker-protocol.js";
import type {
  AuthRecentRequest,
  CloseSessionsRequest,
  ReloadRequest,
  RevokeRequest,
  SessionsRequest,
  ShutdownRequest,
  StartedNote,
} from "./worker-protocol.js";

/** How long a worker waits for the primary to hand it the config. */
const CONFIG_TIMEOUT_MS = 10_000;

/**
 * A `workers` worker: takes the config text the primary validated, runs the full engine and
 * providers on the listeners node:cluster shares, keeps connection limits and the failure
 * throttle in the primary, and answers the primary's metrics, readiness, reload and shutdown
 * requests. Its log lines carry `worker`.
 */
export async function runWorker(noSplice: boolean): Promise<void> {
  const worker = Number(process.env[WORKER_ID_ENV]);
  const state: { running?: Running; logger?: PinoLogger; stopping?: Promise<void>; drainMs: number } = {
    drainMs: 0,
  };
  const primary = new RpcPeer(process as unknown as ConstructorParameters<typeof RpcPeer>[0], {
    request: (body) => answer(body),
  });
  const stop = (drainMs: number): Promise<void> => {
    state.stopping ??= (async () => {
      await state.running?.stop({ drainMs });
      state.logger?.info({ event: "worker_stopped" }, "worker stopped");
      process.exit(0);
    })();
    return state.stopping;
  };
  const answer = async (body: Message): Promise<unknown> => {
    if (body.type === "shutdown") {
      void stop((body as ShutdownRequest).drainMs);
      return true;
    }
    const running = state.running;
    if (running === undefined) throw new Error("the worker is still starting");
    switch (body.type) {
      case "metrics":
        return running.registry.getMetricsAsJSON();
      case "ready":
        await running.ready();
        return true;
      case "revoke":
        return running.revoke((body as RevokeRequest).identity);
      case "sessions":
        return running.view.listSessions((body as SessionsRequest).query);
      case "close_sessions":
        return running.view.closeSessions((body as CloseSessionsRequest).selector);
      case "auth_recent":
        return running.view.recentAuth((body as AuthRecentRequest).limit);
      case "provider_reports":
        return running.view.providerReports();
      case "reload": {
        const next = forWorker(await prepareFromSource((body as ReloadRequest).source));
        await running.reload(next);
        state.drainMs = next.shutdownTimeoutMs;
        return true;
      }
      default:
        throw new Error(`unknown request ${body.type}`);
    }
  };
  // The primary reloads and stops the workers; a signal sent to the whole group must not
  // reload one twice or kill it undrained.
  process.on("SIGHUP", () => undefined);
  const onSignal = (): void => void stop(state.drainMs);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // Without the primary nobody counts limits: stop at once.
  process.on("disconnect", () => {
    state.logger?.error({ event: "primary_gone" }, "the primary process is gone: stopping");
    void stop(0);
  });

  const source = await primary.request<ConfigSource>({ type: "config" }, CONFIG_TIMEOUT_MS);
  const prepared = forWorker(await prepareFromSource(source));
  const logger = createLogger(prepared.log, process.stdout, { worker });
  state.logger = logger;
  state.drainMs = prepared.shutdownTimeoutMs;
  try {
    const shared = new SharedStateClient(primary);
    state.running = await start(prepared, logger, noSplice, {
      sharedState: { limits: shared, throttle: shared },
      startedEvent: "worker_started",
      worker,
    });
  } catch (error) {
    const { code } = asGatehouseError(error);
    logger.error({ event: "worker_start_failed", code }, "worker failed to start");
    throw error;
  }
  const note: StartedNote = { type: "started", listeners: state.running.server.addresses() };
  primary.note(note);
}

/** The primary owns the admin listener: a worker runs without one. */
function forWorker(prepared: Prepared): Prepared {
  return { ...prepared, admin: undefined };
}
