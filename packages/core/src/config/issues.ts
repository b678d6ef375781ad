import type { z } from "zod";
import type { GatehouseErrorCode } from "../errors/codes.js";

/** One problem of a validated value: where it is and what is wrong. */
export interface ConfigIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly code: ConfigIssueCode;
}

/** The stable code of one config problem: an unknown key, a missing key or any other bad value. */
export type ConfigIssueCode = Extract<
  GatehouseErrorCode,
  "GH_CONFIG_UNKNOWN_KEY" | "GH_CONFIG_MISSING_KEY" | "GH_CONFIG_INVALID_VALUE"
>;

/** One config problem as a line (`path: what was expected`) with its code. */
export interface CodedProblem {
  readonly code: GatehouseErrorCode;
  readonly problem: string;
}

type Issue = z.core.$ZodIssue;

/** Formats a path such as ["listeners", 0, "listen"] as `listeners[0].listen`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${String(part)}]`;
    else text += text === "" ? String(part) : `.${String(part)}`;
  }
  return text === "" ? "(root)" : text;
}

/** `prefix` followed by `path`: `listeners[0]` + ["timeout"] → `listeners[0].timeout`. */
export function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  if (path.length === 0) return prefix;
  const rest = formatPath(path);
  return rest.startsWith("[") ? `${prefix}${rest}` : `${prefix}.${rest}`;
}

/** Turns zod issues into path + message pairs, each path under `basePath`. */
export function configIssues(issues: readonly Issue[], basePath: readonly PropertyKey[] = []): ConfigIssue[] {
  return issues.flatMap((issue) => toConfigIssues(issue, [...basePath, ...issue.path]));
}

/** Turns zod issues into `path: what was expected` lines; `prefix` is the path of the validated value. */
export function formatIssues(
  issues: readonly Issue[],
  prefix: string,
  basePath: readonly PropertyKey[] = [],
): string[] {
  return codeIssues(issues, prefix, basePath).map((entry) => entry.problem);
}

/** formatIssues, each line with its code. */
export function codeIssues(
  issues: readonly Issue[],
  prefix: string,
  basePath: readonly PropertyKey[] = [],
): CodedProblem[] {
  return configIssues(issues, basePath).map((issue) => ({
    code: issue.code,
    problem: `${prefix === "" ? formatPath(issue.path) : joinPath(prefix, issue.path)}: ${issue.message}`,
  }));
}

function toConfigIssues(issue: Issue, path: readonly PropertyKey[]): ConfigIssue[] {
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({ path: [...path, key], message: "unknown key", code: "GH_CONFIG_UNKNOWN_KEY" }));
    case "invalid_union": {
      // Report the branch that got furthest (an object with bad fields) rather than "invalid input".
      const branches = issue.errors.filter((branch) => branch.length > 0);
      const reachedInside = (inner: Issue): boolean => inner.path.length > 0 || inner.code === "unrecognized_keys";
      const best =
        branches.find((branch) => branch.some(reachedInside)) ??
        branches.find((branch) => branch.some((inner) => inner.code !== "invalid_type"));
      if (best) return best.flatMap((inner) => toConfigIssues(inner, [...path, ...inner.path]));
      return [{ path, message: describe(issue.message), code: "GH_CONFIG_INVALID_VALUE" }];
    }
    default:
      return [
        {
          path,
          message: describe(issue.message),
          code: MISSING.test(issue.message) ? "GH_CONFIG_MISSING_KEY" : "GH_CONFIG_INVALID_VALUE",
        },
      ];
  }
}

const MISSING = /^Invalid input: expected (.+), received undefined$/;

function describe(message: string): string {
  const missing = MISSING.exec(message);
  if (missing) return `required (expected ${missing[1]!})`;
  return message.replace(/^Invalid (input|option): /, "").replace(/, received /, ", got ");
}
