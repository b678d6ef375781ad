import type { Logger as PinoLogger } from "pino";
import { validateConfig } from "../config/load.js";
import { createLogger } from "../logging/logger.js";
import { listenerOptions } from "../wiring/pipeline-settings.js";
import { CliError, EXIT_STARTUP } from "./exit-codes.js";
import { prepareFromFile } from "./prepare.js";
import type { Prepared } from "./prepare.js";
import { runProxy } from "./run.js";

/** `--config FILE`: validate everything, then start. */
export async function runConfigCommand(file: string): Promise<void> {
  const prepared = await prepareFromFile(file);
  await startAndWait(prepared, createLogger(prepared.log));
}

/** KumoMTA's legacy flags: listeners from `--listen`, no auth providers. */
export async function runFlagsCommand(listen: readonly string[], timeoutSeconds: number): Promise<void> {
  const config = validateConfig({
    listeners: listen.map((address) => ({ listen: address, timeout: Math.round(timeoutSeconds * 1000) })),
  });
  const prepared: Prepared = {
    listeners: listenerOptions(config.listeners),
    auth: undefined,
    log: undefined,
    plans: [],
    configDir: process.cwd(),
  };
  await startAndWait(prepared, createLogger(undefined));
}

async function startAndWait(prepared: Prepared, logger: PinoLogger): Promise<void> {
  let running;
  try {
    running = await runProxy(prepared, logger);
  } catch (error) {
    throw new CliError(`startup failed: ${error instanceof Error ? error.message : String(error)}`, EXIT_STARTUP);
  }
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ event: "shutdown", signal }, "shutting down");
    running.stop().then(
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
