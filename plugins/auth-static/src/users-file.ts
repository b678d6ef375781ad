import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { usersFileSchema } from "./config.js";
import { formatIssues } from "./format-issues.js";
import { toUserTable } from "./user-table.js";
import type { UserTable } from "./user-table.js";

export class UsersFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`users_file ${file}: ${problems.join("; ")}`);
    this.name = "UsersFileError";
  }
}

/** Reads and validates a YAML or JSON users file (JSON is YAML). Errors name the file, never a password. */
export async function loadUsersFile(file: string): Promise<UserTable> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsersFileError(file, [`cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    // yaml's messages quote the offending line, which may hold a password: keep only the position.
    const where = (error as { linePos?: [{ line: number; col: number }] }).linePos?.[0];
    throw new UsersFileError(file, [
      `not valid YAML or JSON${where === undefined ? "" : ` (line ${where.line}, column ${where.col})`}`,
    ]);
  }
  const result = usersFileSchema.safeParse(document);
  if (!result.success) throw new UsersFileError(file, formatIssues(result.error));
  return toUserTable(result.data.users);
}
