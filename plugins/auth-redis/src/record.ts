import { PasswordRecordError, parsePasswordRecord } from "@gatehouse-proxy/core";
import type { PasswordRecord } from "@gatehouse-proxy/core";

/** Why a user's hash cannot be used; the message never quotes the password field. */
export class UserRecordError extends Error {
  constructor(
    readonly username: string,
    readonly problem: string,
  ) {
    super(`the Redis record of user ${JSON.stringify(username)} is unusable: ${problem}`);
    this.name = "UserRecordError";
  }
}

/** A user's hash, checked: the password record parsed (no KDF work yet). */
export interface UserRecord {
  readonly password: PasswordRecord;
  readonly passwordText: string;
  readonly groups: readonly string[] | undefined;
  readonly identity: string | undefined;
  readonly disabled: boolean;
}

const TRUE = new Set(["1", "true", "yes"]);
const FALSE = new Set(["", "0", "false", "no"]);

/**
 * Checks the fields of a user's hash (HGETALL's answer, non-empty). Fields other than
 * password, groups, identity and disabled are ignored. Throws UserRecordError.
 */
export function parseUserRecord(username: string, fields: Readonly<Record<string, string>>): UserRecord {
  const passwordText = fields["password"];
  if (passwordText === undefined) throw new UserRecordError(username, "no password field");
  let password: PasswordRecord;
  try {
    password = parsePasswordRecord(passwordText);
  } catch (error) {
    if (error instanceof PasswordRecordError) {
      throw new UserRecordError(username, `password field: ${error.message} (${error.code})`);
    }
    throw error;
  }
  const disabledText = fields["disabled"]?.trim().toLowerCase();
  if (disabledText !== undefined && !TRUE.has(disabledText) && !FALSE.has(disabledText)) {
    throw new UserRecordError(username, "disabled field: expected true/false, 1/0 or yes/no");
  }
  const identity = fields["identity"];
  if (identity !== undefined && identity.trim() === "") throw new UserRecordError(username, "identity field is empty");
  return {
    password,
    passwordText,
    groups: parseGroups(username, fields["groups"]),
    identity,
    disabled: disabledText !== undefined && TRUE.has(disabledText),
  };
}

/** `groups`: a JSON array of non-empty strings, or a comma list (`a, b`). */
export function parseGroups(username: string, text: string | undefined): readonly string[] | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new UserRecordError(username, "groups field: starts with [ but is not a JSON array");
    }
    if (!Array.isArray(parsed) || !parsed.every((group) => typeof group === "string" && group !== "")) {
      throw new UserRecordError(username, "groups field: the JSON array must hold non-empty strings");
    }
    return parsed as string[];
  }
  return trimmed
    .split(",")
    .map((group) => group.trim())
    .filter((group) => group !== "");
}
