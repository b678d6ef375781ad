import { z } from "zod";
import { parseDuration } from "../util/duration.js";
import type { Duration } from "../util/duration.js";

/** Config fields the option schemas of core and the server's file schema are built from. */

export function isDuration(value: unknown): value is Duration {
  if (typeof value !== "number" && typeof value !== "string") return false;
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}

/** `500ms`, `60s`, `5m` or milliseconds; the message says what was expected. */
export const duration = z.custom<Duration>().superRefine((value, ctx) => {
  try {
    if (typeof value !== "number" && typeof value !== "string") {
      throw new RangeError(`expected a duration such as 500ms, 60s or 5m, got ${typeof value}`);
    }
    parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
  }
});

/** A duration of at least `minMs` (reported with `message`, or "must be at least …"). */
export function durationAtLeast(minMs: number, message = `must be at least ${String(minMs)}ms`) {
  return duration.superRefine((value, ctx) => {
    if (isDuration(value) && parseDuration(value) < minMs) ctx.addIssue({ code: "custom", message });
  });
}

/** A duration, or a value of another kind that `allowed` accepts (`false`, a boolean). */
export function durationOr<T>(allowed: (value: unknown) => value is T, what: string) {
  return z.custom<Duration | T>().superRefine((value, ctx) => {
    if (allowed(value) || isDuration(value)) return;
    ctx.addIssue({
      code: "custom",
      message: `expected ${what} or a duration such as 500ms, 60s or 5m, got ${JSON.stringify(value)}`,
    });
  });
}

export const isFalse = (value: unknown): value is false => value === false;
export const isBoolean = (value: unknown): value is boolean => typeof value === "boolean";

export const flag = z.boolean({ error: "expected true or false" });

/** A whole number ≥ 1. */
export const count = z.number().int().positive();

/** A string that `parse` accepts; its RangeError message becomes the issue. */
export function parsedString(parse: (text: string) => unknown) {
  return z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      try {
        parse(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
      }
    });
}

export const nonEmptyList = <T extends z.ZodType>(item: T, message = "expected a non-empty list") =>
  z.array(item).min(1, message);
