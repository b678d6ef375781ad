import { GatehouseError } from "@gatehouse-proxy/core";

/** `gatehouse sessions list|close ...`. */
export interface SessionsCommand {
  readonly kind: "sessions";
  readonly action: "list" | "close";
  /** list: the filters; close: exactly one of identity, id, peer. */
  readonly filter: {
    readonly identity?: string;
    readonly group?: string;
    readonly peer?: string;
    readonly destination?: string;
    readonly id?: string;
  };
  readonly json: boolean;
  readonly admin?: string;
  readonly config?: string;
}

export interface SessionsFlags {
  readonly config?: string | undefined;
  readonly admin?: string | undefined;
  readonly json?: boolean | undefined;
  readonly identity?: string | undefined;
  readonly group?: readonly string[] | undefined;
  readonly peer?: string | undefined;
  readonly destination?: string | undefined;
  readonly id?: string | undefined;
}

/**
 * `sessions list [--identity I] [--group G] [--peer IP] [--destination D] [--json]` and
 * `sessions close --identity I | --id ID | --peer IP`, both with `--admin URL` / `--config FILE`.
 */
export function parseSessionsCommand(rest: readonly string[], flags: SessionsFlags): SessionsCommand {
  const [action, ...extra] = rest;
  if (action !== "list" && action !== "close") fail("sessions: expected list or close");
  if (extra.length > 0) fail(`sessions ${action} takes no positional arguments`);
  if ((flags.group?.length ?? 0) > 1) fail("sessions: give --group once");
  const group = flags.group?.[0];
  const given = { identity: flags.identity, group, peer: flags.peer, destination: flags.destination, id: flags.id };
  for (const [name, value] of Object.entries(given)) {
    if (value !== undefined && value.trim() === "") fail(`sessions ${action}: --${name} must not be empty`);
  }
  if (action === "list" && flags.id !== undefined) fail("sessions list: --id goes with sessions close");
  if (action === "close") {
    const selectors = [flags.identity, flags.id, flags.peer].filter((value) => value !== undefined);
    if (selectors.length !== 1 || group !== undefined || flags.destination !== undefined) {
      fail("sessions close: give exactly one of --identity NAME, --id ID, --peer IP");
    }
  }
  const filter = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  return {
    kind: "sessions",
    action,
    filter,
    json: flags.json === true,
    ...(flags.admin !== undefined && { admin: flags.admin }),
    ...(flags.config !== undefined && { config: flags.config }),
  };
}

function fail(message: string): never {
  throw new GatehouseError("GH_CLI_USAGE", `${message}\nRun gatehouse --help for usage.`);
}
