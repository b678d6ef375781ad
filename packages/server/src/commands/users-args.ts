import { GatehouseError } from "@gatehouse-proxy/core";

export const USER_ACTIONS = ["add", "passwd", "disable", "del", "list"] as const;
export type UserAction = (typeof USER_ACTIONS)[number];

export interface UsersCommand {
  readonly kind: "users";
  readonly action: UserAction;
  /** Absent only for `list`. */
  readonly username?: string;
  readonly groups: readonly string[];
  readonly identity?: string;
  readonly file: string;
  /** The `auth.providers` entry to manage; needed only when several can. */
  readonly provider?: string;
  /** disable/del without Redis state: the admin API of the instance whose tunnels to end (default: the config's). */
  readonly admin?: string;
}

export interface UsersFlags {
  readonly config?: string | undefined;
  readonly group?: readonly string[] | undefined;
  readonly identity?: string | undefined;
  readonly provider?: string | undefined;
  readonly admin?: string | undefined;
}

/** `users ACTION [NAME] --config FILE [--group G]... [--identity ID] [--provider NAME]`. */
export function parseUsersCommand(rest: readonly string[], flags: UsersFlags): UsersCommand {
  const [action, ...names] = rest;
  if (!isAction(action)) fail(`users: expected one of ${USER_ACTIONS.join(", ")}`);
  if (flags.config === undefined) fail(`users ${action}: give the config file that names the store, --config FILE`);
  const needsName = action !== "list";
  if (needsName ? names.length !== 1 : names.length !== 0) {
    fail(needsName ? `users ${action} takes exactly one NAME` : "users list takes no NAME");
  }
  const onlyForAdd = (flags.group !== undefined && flags.group.length > 0) || flags.identity !== undefined;
  if (onlyForAdd && action !== "add") fail(`users ${action}: --group and --identity go with users add`);
  if (flags.group?.some((group) => group.trim() === "") === true) fail("users add: --group must not be empty");
  if (flags.identity?.trim() === "") fail("users add: --identity must not be empty");
  if (flags.admin !== undefined && action !== "disable" && action !== "del") {
    fail(`users ${action}: --admin goes with users disable and users del`);
  }
  const username = names[0];
  if (username !== undefined) {
    const bytes = Buffer.byteLength(username);
    if (bytes === 0 || bytes > 255) fail("usernames are 1..255 bytes (RFC 1929)");
  }
  return {
    kind: "users",
    action,
    groups: flags.group ?? [],
    file: flags.config,
    ...(username === undefined ? {} : { username }),
    ...(flags.identity === undefined ? {} : { identity: flags.identity }),
    ...(flags.provider === undefined ? {} : { provider: flags.provider }),
    ...(flags.admin === undefined ? {} : { admin: flags.admin }),
  };
}

function isAction(value: string | undefined): value is UserAction {
  return (USER_ACTIONS as readonly (string | undefined)[]).includes(value);
}

function fail(message: string): never {
  throw new GatehouseError("GH_CLI_USAGE", `${message}\nRun gatehouse --help for usage.`);
}
