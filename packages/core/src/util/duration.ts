/** A duration as configured: milliseconds, or a string such as `500ms`, `60s`, `5m`, `1h`. */
export type Duration = number | string;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Returns milliseconds, or throws a RangeError that says what was expected. */
export function parseDuration(value: Duration): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`expected a non-negative duration, got ${String(value)}`);
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!match) throw new RangeError(`expected a duration such as 500ms, 60s or 5m, got ${JSON.stringify(value)}`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}
