import type { UserEntry } from "./config.js";

/** Users by name. A Map, so names like `constructor` or `__proto__` find nothing inherited. */
export type UserTable = ReadonlyMap<string, UserEntry>;

export function toUserTable(users: Readonly<Record<string, UserEntry>>): UserTable {
  return new Map(Object.entries(users));
}
