import type { z } from "@gatehouse-proxy/core";
import { formatPath, joinPath } from "./path.js";

type Issue = z.core.$ZodIssue;

/** Turns zod issues into `path: what was expected` lines; `prefix` is the path of the validated value. */
export function formatIssues(
  issues: readonly Issue[],
  prefix: string,
  basePath: readonly PropertyKey[] = [],
): string[] {
  return issues.flatMap((issue) => formatIssue(issue, prefix, [...basePath, ...issue.path]));
}

function formatIssue(issue: Issue, prefix: string, path: readonly PropertyKey[]): string[] {
  const at = (p: readonly PropertyKey[]): string => (prefix === "" ? formatPath(p) : joinPath(prefix, p));
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => `${at([...path, key])}: unknown key`);
    case "invalid_union": {
      // Report the branch that got furthest (an object with bad fields) rather than "invalid input".
      const branches = issue.errors.filter((branch) => branch.length > 0);
      const best = branches.find((branch) =>
        branch.some((inner) => inner.path.length > 0 || inner.code !== "invalid_type"),
      );
      if (best) return best.flatMap((inner) => formatIssue(inner, prefix, [...path, ...inner.path]));
      return [`${at(path)}: ${describe(issue.message)}`];
    }
    default:
      return [`${at(path)}: ${describe(issue.message)}`];
  }
}

function describe(message: string): string {
  const missing = /^Invalid input: expected (.+), received undefined$/.exec(message);
  if (missing) return `required (expected ${missing[1]!})`;
  return message.replace(/^Invalid (input|option): /, "").replace(/, received /, ", got ");
}
