import type { Logger } from "@gatehouse/core";

/** A Logger that keeps every line (as JSON), for `fixtures.logs` and for asserting what was logged. */
export interface RecordingLogger extends Logger {
  readonly lines: string[];
}

export function recordingLogger(lines: string[] = [], bindings: object = {}): RecordingLogger {
  const write =
    (level: string) =>
    (fields: object, message?: string): void => {
      let text: string;
      try {
        text = JSON.stringify({ level, ...bindings, ...fields, msg: message });
      } catch {
        text = `${level} ${message ?? ""} (fields not serialisable)`;
      }
      lines.push(text);
    };
  return {
    lines,
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}
