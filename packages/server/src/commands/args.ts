import { parseArgs } from "node:util";
import { GatehouseError } from "@gatehouse-proxy/core";
import { parseUsersCommand } from "./users-args.js";
import type { UsersCommand } from "./users-args.js";
import { parsePolicyCommand } from "./policy-test.js";
import type { PolicyTestCommand } from "./policy-test.js";
import { parsePluginsCommand } from "./plugins-args.js";
import type { PluginsCommand } from "./plugins-args.js";
import { parseSessionsCommand } from "./sessions-args.js";
import type { SessionsCommand } from "./sessions-args.js";

export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "check-config"; readonly file: string }
  | { readonly kind: "hash-password" }
  | { readonly kind: "run-config"; readonly file: string; readonly noSplice: boolean }
  | {
      readonly kind: "run-flags";
      readonly listen: readonly string[];
      readonly timeoutSeconds: number;
      readonly noSplice: boolean;
    }
  | UsersCommand
  | SessionsCommand
  | PolicyTestCommand
  | PluginsCommand;

/** Parses the command line; bad usage is a GH_CLI_USAGE error (exit status 2). */
export function parseCommand(argv: readonly string[]): Command {
  if (argv[0] === "policy") return parsePolicyCommand(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        listen: { type: "string", multiple: true },
        "timeout-seconds": { type: "string" },
        "no-splice": { type: "boolean" },
        version: { type: "boolean", short: "V" },
        help: { type: "boolean", short: "h" },
        group: { type: "string", multiple: true },
        identity: { type: "string" },
        provider: { type: "string" },
        admin: { type: "string" },
        json: { type: "boolean" },
        peer: { type: "string" },
        destination: { type: "string" },
        id: { type: "string" },
      },
    });
  } catch (error) {
    throw new GatehouseError("GH_CLI_USAGE", `${(error as Error).message}\nRun gatehouse --help for usage.`);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const [verb, ...rest] = positionals;
  if (verb === "check-config") {
    const file = rest[0] ?? values.config;
    if (file === undefined || rest.length > 1) usage("check-config takes exactly one FILE");
    return { kind: "check-config", file };
  }
  if (verb === "hash-password") {
    if (rest.length > 0) usage("hash-password takes no arguments (the password is read from stdin)");
    return { kind: "hash-password" };
  }
  const sessionsOnly = (["json", "peer", "destination", "id"] as const).filter((flag) => values[flag] !== undefined);
  if (verb !== "sessions" && sessionsOnly.length > 0) usage(`--${sessionsOnly[0]!} goes with gatehouse sessions`);
  if (values.admin !== undefined && verb !== "sessions" && verb !== "users") {
    usage("--admin goes with gatehouse sessions and gatehouse users");
  }
  if (verb === "users") return parseUsersCommand(rest, values);
  if (verb === "sessions") return parseSessionsCommand(rest, values);
  if (verb === "plugins") return parsePluginsCommand(rest, values.config);
  if (verb !== undefined) usage(`unknown command ${JSON.stringify(verb)}`);
  if (values.config !== undefined) {
    if (values.listen !== undefined) usage("--listen cannot be combined with --config (put listeners in the file)");
    return { kind: "run-config", file: values.config, noSplice: values["no-splice"] === true };
  }
  if (values.listen !== undefined) {
    const text = values["timeout-seconds"] ?? "60";
    const timeoutSeconds = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || !(timeoutSeconds > 0)) {
      usage(`--timeout-seconds: expected a positive number of seconds, got ${JSON.stringify(text)}`);
    }
    return { kind: "run-flags", listen: values.listen, timeoutSeconds, noSplice: values["no-splice"] === true };
  }
  usage("nothing to do: give --config FILE or --listen ADDR");
}

function usage(message: string): never {
  throw new GatehouseError("GH_CLI_USAGE", `${message}\nRun gatehouse --help for usage.`);
}
