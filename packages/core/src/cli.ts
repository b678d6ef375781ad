#!/usr/bin/env node
import { parseArgs } from "node:util";
import { createJsonLogger } from "./log.js";
import type { LogLevel } from "./log.js";
import { createProxyServer } from "./server.js";

/**
 * A core-only proxy: no authentication providers, so clients that offer username/password
 * are refused and the rest may connect. The full product is the `gatehouse` server.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: "string", multiple: true, default: ["127.0.0.1:1080"] },
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write("usage: gatehouse-core [--listen HOST:PORT]... [--log-level debug|info|warn|error]\n");
    return;
  }
  const logger = createJsonLogger(values["log-level"] as LogLevel);
  const server = createProxyServer({ listeners: values.listen.map((listen) => ({ listen })), logger });
  await server.start();
  const stop = (signal: string): void => {
    logger.info({ event: "shutdown", signal }, "shutting down");
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`gatehouse-core: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
