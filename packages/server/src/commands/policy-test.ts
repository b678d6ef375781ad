import { isIP } from "node:net";
import { parseArgs } from "node:util";
import {
  DnsResolver,
  compileListenerPolicies,
  decisionLabel,
  evaluatePolicy,
  parseHostPort,
  parseIp,
  sourcePortNamed,
} from "@gatehouse/core";
import type { PolicyCommand } from "@gatehouse/core";
import { loadConfigFile } from "../config/load.js";
import { dnsSettings } from "../wiring/dns-settings.js";
import { listenerOptions } from "../wiring/pipeline-settings.js";
import { CliError, EXIT_CONFIG } from "./exit-codes.js";

/** `gatehouse policy test ...`: one request, decided by the config's policy without traffic. */
export interface PolicyTestCommand {
  readonly kind: "policy-test";
  readonly file: string;
  /** Undefined = a session that used the no-auth method. */
  readonly user: string | undefined;
  readonly groups: readonly string[];
  readonly command: PolicyCommand;
  readonly to: { readonly host: string; readonly port: number } | undefined;
  /** The address a host name resolves to; default: looked up as the proxy would. */
  readonly address: string | undefined;
  readonly from: string;
  readonly source: string | undefined;
  /** The source port a BIND asks for (`--source IP:PORT`); 0 by default. */
  readonly sourcePort: number;
  /** A listener's name or listen address; default: the first listener. */
  readonly listener: string | undefined;
}

/** Exit status of `policy test` when the request would be denied (0 when allowed). */
export const EXIT_POLICY_DENIED = 1;

const USAGE =
  "usage: gatehouse policy test --config FILE [--user NAME] [--group G ...] --to HOST:PORT " +
  "[--from IP] [--address IP] [--command connect|bind] [--source IP[:PORT]] [--listener NAME]";

export function parsePolicyCommand(argv: readonly string[]): PolicyTestCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        user: { type: "string" },
        group: { type: "string", multiple: true },
        to: { type: "string" },
        from: { type: "string" },
        address: { type: "string" },
        command: { type: "string" },
        source: { type: "string" },
        listener: { type: "string" },
      },
    });
  } catch (error) {
    throw usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals[0] !== "test" || positionals.length > 1) throw usage("the policy command has one verb: test");
  if (values.config === undefined) throw usage("--config FILE is required");
  const command = values.command ?? "connect";
  if (command !== "connect" && command !== "bind") throw usage(`--command: connect or bind, got ${command}`);
  const to = values.to === undefined ? undefined : parseHostPort(values.to);
  if (values.to !== undefined && to === undefined)
    throw usage(`--to: expected HOST:PORT ([v6]:PORT), got ${values.to}`);
  if (command === "connect" && to === undefined) throw usage("--to HOST:PORT is required for connect");
  if (command === "bind" && values.source === undefined) throw usage("--source IP is required for bind");
  let source = values.source;
  let sourcePort = 0;
  const sourceWithPort = source === undefined || isIP(source) !== 0 ? undefined : parseHostPort(source);
  if (sourceWithPort !== undefined) ({ host: source, port: sourcePort } = sourceWithPort);
  for (const [flag, value] of [
    ["--from", values.from],
    ["--address", values.address],
    ["--source", source],
  ] as const) {
    if (value !== undefined && isIP(value) === 0) throw usage(`${flag}: expected an IP address, got ${value}`);
  }
  return {
    kind: "policy-test",
    file: values.config,
    user: values.user,
    groups: values.group ?? [],
    command,
    to,
    address: values.address,
    from: values.from ?? "127.0.0.1",
    source,
    sourcePort,
    listener: values.listener,
  };
}

function usage(message: string): CliError {
  return new CliError(`policy test: ${message}\n${USAGE}`, EXIT_CONFIG);
}

/** Prints the decision and the rule that made it; returns the exit status (0 allowed, 1 denied). */
export async function policyTestCommand(
  command: PolicyTestCommand,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const { config, configDir } = await loadConfigFile(command.file);
  const listeners = listenerOptions(config.listeners);
  const index =
    command.listener === undefined
      ? 0
      : listeners.findIndex((listener) => listener.name === command.listener || listener.listen === command.listener);
  const listener = listeners[index];
  if (listener === undefined) {
    const known = listeners.map((entry) => entry.name ?? entry.listen).join(", ");
    throw new CliError(
      `policy test: no listener ${JSON.stringify(command.listener)} (listeners: ${known})`,
      EXIT_CONFIG,
    );
  }
  const policy = compileListenerPolicies(
    config.policy,
    listeners.map((entry) => entry.policy),
  )[index];
  const lines: string[] = [];
  const host = command.to?.host;
  let address = command.address;
  if (host !== undefined && isIP(host) !== 0) address = host;
  else if (host !== undefined && address === undefined && command.command === "connect") {
    const resolver = new DnsResolver(await dnsSettings(config.dns, configDir)); // the config's `dns`, as the proxy
    try {
      address = (await resolver.lookup(host)).address;
    } catch (error) {
      lines.push(
        `note: ${host} did not resolve (${(error as NodeJS.ErrnoException).code ?? "error"}): the proxy would reply 04`,
      );
    } finally {
      resolver.close();
    }
  }
  const name = host === undefined || isIP(host) !== 0 ? undefined : host.toLowerCase().replace(/\.$/, "");
  const request = {
    identities: command.user === undefined ? [] : [command.user],
    groups: command.groups,
    authenticated: command.user !== undefined,
    client: parseIp(command.from),
    command: command.command,
    host: name,
    address: address === undefined ? undefined : parseIp(address),
    port: command.to?.port ?? 0,
    source: command.source === undefined ? undefined : parseIp(command.source),
    sourcePort: command.sourcePort,
  };
  const who = command.user === undefined ? "(no auth)" : command.user;
  const what =
    command.command === "bind"
      ? `bind ${command.source ?? ""}:${String(command.sourcePort)}`
      : `connect ${command.to?.host ?? ""}:${String(command.to?.port ?? 0)}` +
        (name !== undefined && address !== undefined ? ` (address ${address})` : "");
  lines.push(
    `request: ${what} as ${who}, groups [${command.groups.join(", ")}], from ${command.from}, listener ${listener.name ?? listener.listen}`,
  );
  const portNotNamed = (rule: Parameters<typeof sourcePortNamed>[0]): boolean =>
    command.command === "bind" &&
    command.sourcePort !== 0 &&
    request.source !== undefined &&
    !sourcePortNamed(rule, request.source, command.sourcePort);
  const SOURCE_PORT_DENIAL =
    "rule: source_port_not_named (a source port other than 0 needs an allowing rule whose source: entry names it)";
  if (policy === undefined) {
    if (portNotNamed(undefined)) {
      lines.push("decision: deny", SOURCE_PORT_DENIAL);
      out.write(`${lines.join("\n")}\n`);
      return EXIT_POLICY_DENIED;
    }
    lines.push("decision: allow", "rule: none (no policy configured: every request is allowed)");
    out.write(`${lines.join("\n")}\n`);
    return 0;
  }
  const decision = evaluatePolicy(policy, request);
  const rule = decision.rule;
  if (decision.allowed && portNotNamed(rule?.source)) {
    lines.push("decision: deny", SOURCE_PORT_DENIAL);
    out.write(`${lines.join("\n")}\n`);
    return EXIT_POLICY_DENIED;
  }
  lines.push(`decision: ${decision.allowed ? "allow" : "deny"}`);
  if (rule === undefined) lines.push(`rule: default (${policy.defaultAllow ? "allow" : "deny"}): no rule matched`);
  else lines.push(`rule: ${decisionLabel(decision)}${rule.label === rule.path ? "" : ` (${rule.path})`}`);
  out.write(`${lines.join("\n")}\n`);
  return decision.allowed ? 0 : EXIT_POLICY_DENIED;
}
