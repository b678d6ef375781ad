import type { z } from "@gatehouse-proxy/core";

/** `users.alice.password: not a password record; ...`, one line per issue. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
}
