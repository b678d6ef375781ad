import type { GatehouseErrorCode, z } from "@gatehouse-proxy/core";
import { formatPath, joinPath } from "./path.js";

type Issue = z.core.$ZodIssue;

/** One config problem: its line (`path: what was expected`) and its code. */
export interface CodedProblem {
  readonly code: GatehouseErrorCode;
  readonly problem: string;
}

/** Turns zod issues into `path: what was expected` lines; `prefix` is the path of the validated value. */
export function formatIssues(
  issues: readonly Issue[],
  prefix: string,
  basePath: readonly PropertyKey[] = [],
): string[] {
  return codeIssues(issues, prefix, basePath).map((entry) => entry.problem);
}

/** formatIssues, each line with its code: unknown key, missing key or invalid value. */
export function codeIssues(
  issues: readonly Issue[],
  prefix: string,
  basePath: readonly PropertyKey[] = [],
): CodedProblem[] {
  return issues.flatMap((issue) => formatIssue(issue, prefix, [...basePath, ...issue.path]));
}

function formatIssue(issue: Issue, prefix: string, path: readonly PropertyKey[]): CodedProblem[] {
  const at = (p: readonly PropertyKey[]): string => (prefix === "" ? formatPath(p) : joinPath(prefix, p));
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({
        code: "GH_CONFIG_UNKNOWN_KEY",
        problem: `${at([...path, key])}: unknown key`,
      }));
    case "invalid_union": {
      // Report the branch that got furthest (an object with bad fields) rather than "invalid input".
      const branches = issue.errors.filter((branch) => branch.length > 0);
      const best = branches.find((branch) =>
        branch.some((inner) => inner.path.length > 0 || inner.code !== "invalid_type"),
      );
      if (best) return best.flatMap((inner) => formatIssue(inner, prefix, [...path, ...inner.path]));
      return [{ code: "GH_CONFIG_INVALID_VALUE", problem: `${at(path)}: ${describe(issue.message)}` }];
    }
    default: {
      const missing = MISSING.test(issue.message);
      return [
        {
          code: missing ? "GH_CONFIG_MISSING_KEY" : "GH_CONFIG_INVALID_VALUE",
          problem: `${at(path)}: ${describe(issue.message)}`,
        },
      ];
    }
  }
}

const MISSING = /^Invalid input: expected (.+), received undefined$/;

function describe(message: string): string {
  const missing = MISSING.exec(message);
  if (missing) return `required (expected ${missing[1]!})`;
  return message.replace(/^Invalid (input|option): /, "").replace(/, received /, ", got ");
}
