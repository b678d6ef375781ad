import { GatehouseError } from "@gatehouse-proxy/core";

export type PluginsCommand =
  | { readonly kind: "plugins-verify"; readonly target: string; readonly config: string | undefined }
  | { readonly kind: "plugins-list"; readonly config: string | undefined };

/** `plugins verify NAME_OR_PATH [--config FILE]` and `plugins list [--config FILE]`. */
export function parsePluginsCommand(rest: readonly string[], config: string | undefined): PluginsCommand {
  const [sub, ...args] = rest;
  if (sub === "verify") {
    if (args.length !== 1) usage("plugins verify takes exactly one NAME_OR_PATH");
    return { kind: "plugins-verify", target: args[0]!, config };
  }
  if (sub === "list") {
    if (args.length > 0) usage("plugins list takes no arguments (give --config FILE)");
    return { kind: "plugins-list", config };
  }
  usage(
    sub === undefined
      ? "plugins needs a subcommand: verify or list"
      : `unknown plugins subcommand ${JSON.stringify(sub)}`,
  );
}

function usage(message: string): never {
  throw new GatehouseError("GH_CLI_USAGE", `${message}\nRun gatehouse --help for usage.`);
}
