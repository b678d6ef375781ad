import { ERROR_CODES } from "./codes.js";
import type { GatehouseErrorCode } from "./codes.js";

/**
 * Every error a user meets from Gatehouse — a config problem, a plugin that cannot load, a
 * provider that cannot start, a bad command line — is one of these: a stable `code` (see
 * ERROR_CODES) and the `problems`, one line each, each naming its config path where there is one.
 * The CLI looks at nothing else: `code` gives its exit status.
 */
export class GatehouseError extends Error {
  readonly problems: readonly string[];

  constructor(
    readonly code: GatehouseErrorCode,
    problems: string | readonly string[],
    options?: ErrorOptions,
  ) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(list.join("; "), options);
    this.name = "GatehouseError";
    this.problems = list;
  }

  /** The exit status of a `gatehouse` command that fails with this error. */
  get exitStatus(): number {
    return ERROR_CODES[this.code].exitStatus;
  }
}
