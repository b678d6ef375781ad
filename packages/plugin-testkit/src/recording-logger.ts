import type { Logger } from "@gatehouse-proxy/core";

/** A Logger that keeps every line (as JSON), for `fixtures.logs` and for asserting what was logged. */
export interface RecordingLogger extends Logger {
  readonly lines: string[];
  /** Every line, newline-separated: for `assert.doesNotMatch(logger.text(), /secret/)`. */
  text(): string;
  /** The parsed records whose `event` field is `name`, oldest first. */
  events(name: string): Record<string, unknown>[];
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
    text: () => lines.join("\n"),
    events: (name) =>
      lines.flatMap((line) => {
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          return record["event"] === name ? [record] : [];
        } catch {
          return [];
        }
      }),
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}
