import { escapeJsonLine } from "./util/printable.js";

/** The logging surface the engine needs; pino loggers satisfy it. */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  child(bindings: object): Logger;
}

/** The levels createJsonLogger filters on; `silent` logs nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

/** A Logger that discards everything (the default when none is given). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/**
 * A small JSON-lines logger (pino's field names) for embedding without a logging library.
 * Control and other invisible characters in keys and values are escaped (see escapeJsonLine).
 */
export function createJsonLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (line) => process.stdout.write(line),
  bindings: object = {},
): Logger {
  const threshold = LEVELS[level];
  const emit = (levelName: Exclude<LogLevel, "silent">, fields: object, message?: string): void => {
    if (LEVELS[levelName] < threshold) return;
    const record = { level: LEVELS[levelName], time: Date.now(), ...bindings, ...fields, msg: message };
    write(`${escapeJsonLine(JSON.stringify(record, jsonReplacer))}\n`);
  };
  return {
    debug: (fields, message) => emit("debug", fields, message),
    info: (fields, message) => emit("info", fields, message),
    warn: (fields, message) => emit("warn", fields, message),
    error: (fields, message) => emit("error", fields, message),
    child: (more) => createJsonLogger(level, write, { ...bindings, ...more }),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error)
    return { type: value.name, message: value.message, code: (value as NodeJS.ErrnoException).code };
  if (typeof value === "bigint") return value.toString();
  return value;
}
