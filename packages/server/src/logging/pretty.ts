import { escapeJsonLine, escapeNonPrintable } from "@gatehouse-proxy/core/engine";

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  50: "ERROR",
  60: "FATAL",
};
const OMIT: ReadonlySet<string> = new Set(["level", "time", "msg", "pid", "hostname"]);

/** One pino JSON line as `12:00:00.000 INFO  message key=value ...` (no pino-pretty needed). */
export function prettyLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof record.time === "number" ? new Date(record.time).toISOString().slice(11, 23) : "";
  const level = typeof record.level === "number" ? (LEVEL_NAMES[record.level] ?? String(record.level)) : "";
  const message = typeof record.msg === "string" ? escapeNonPrintable(record.msg) : "";
  const fields = Object.entries(record)
    .filter(([key]) => !OMIT.has(key))
    .map(([key, value]) => `${escapeNonPrintable(key)}=${prettyValue(value)}`);
  return `${[time, level, message, ...fields].filter((part) => part !== "").join(" ")}\n`;
}

/** Bare when nothing in it could be mistaken for another field; else a JSON string, escaped. */
const BARE = /^[^\s"=\\]+$/u;

function prettyValue(value: unknown): string {
  if (typeof value === "string") {
    const escaped = escapeNonPrintable(value);
    return escaped === value && BARE.test(value) ? value : escapeJsonLine(JSON.stringify(value));
  }
  const json = JSON.stringify(value) as string | undefined; // undefined for undefined or a function
  return escapeJsonLine(json ?? String(value));
}

/** A pino destination that writes pretty lines to `out`. */
export function prettyStream(out: NodeJS.WritableStream): { write(line: string): void } {
  return {
    write(line: string) {
      for (const one of line.split("\n")) if (one !== "") out.write(prettyLine(one));
    },
  };
}
