import { readFile } from "node:fs/promises";
import { PasswordRecordError, parsePasswordRecord } from "@gatehouse-proxy/core";

export interface UserLine {
  /** A password record made by `gatehouse hash-password`. */
  readonly record: string;
  readonly groups: readonly string[];
}

/** Why the users file cannot be used. Names the file and line, never the line's text (it holds a record). */
export class UsersFileError extends Error {
  override readonly name = "UsersFileError";
}

/**
 * Reads `name:record[:group,group]` lines; `#` starts a comment. Every record is checked
 * here, so a bad file fails at startup (init) rather than at a user's first login.
 */
export async function readUsersFile(file: string): Promise<ReadonlyMap<string, UserLine>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsersFileError(
      `users file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  const users = new Map<string, UserLine>();
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `users file ${file}, line ${String(index + 1)}`;
    const [name, record, groups, ...extra] = line.split(":");
    if (name === undefined || name === "" || record === undefined || extra.length > 0) {
      throw new UsersFileError(`${where}: expected name:password-record[:group,group]`);
    }
    try {
      parsePasswordRecord(record);
    } catch (error) {
      if (!(error instanceof PasswordRecordError)) throw error;
      throw new UsersFileError(`${where}: ${error.message}`);
    }
    users.set(name, { record, groups: groups === undefined || groups === "" ? [] : groups.split(",") });
  }
  return users;
}
