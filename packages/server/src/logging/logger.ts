import { escapeJsonLine } from "@gatehouse-proxy/core/engine";
import { pino } from "pino";
import type { Logger as PinoLogger } from "pino";
import type { LogConfig } from "../config/schema.js";
import { prettyStream } from "./pretty.js";

/** Never logged, whatever a caller passes in. */
const REDACT = ["password", "*.password", "credentials", "*.credentials", "secret", "*.secret"];

/**
 * pino to stdout: JSON, or human-readable lines when `format: pretty` (the default on a TTY).
 * `fields` go on every line (a worker's `worker` number).
 */
export function createLogger(
  log: LogConfig | undefined,
  out: NodeJS.WriteStream = process.stdout,
  fields: Readonly<Record<string, unknown>> = {},
): PinoLogger {
  const format = log?.format ?? (out.isTTY ? "pretty" : "json");
  const options = {
    level: log?.level ?? "info",
    base: { pid: process.pid, ...fields },
    redact: { paths: REDACT, censor: "[redacted]" },
  };
  if (format === "pretty") return pino(options, prettyStream(out));
  const destination = out === process.stdout ? pino.destination({ dest: 1, sync: true }) : out;
  // JSON escapes control characters; the invisible ones it leaves raw are escaped here.
  return pino(options, { write: (line: string) => destination.write(escapeJsonLine(line)) });
}
