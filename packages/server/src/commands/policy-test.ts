import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { DnsResolver, escapeName, interpretDestinationName, parseHostPort } from "@gatehouse-proxy/core/engine";
import {
  compileListenerPolicies,
  decisionLabel,
  evaluatePolicy,
  evaluatePolicyBeforeLookup,
  isUnspecifiedAddress,
  parseIp,
  sourcePortNamed,
} from "@gatehouse-proxy/core/policy";
import { GatehouseError } from "@gatehouse-proxy/core";
import type { CompiledPolicy, PolicyCommand, PolicyDecision } from "@gatehouse-proxy/core/policy";
import { loadConfigFile } from "../config/load.js";
import { dnsSettings } from "../wiring/dns-settings.js";
import { listenerOptions } from "../wiring/pipeline-settings.js";

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
  "[--from IP] [--address IP] [--command connect|bind|udp] [--source IP[:PORT]] [--listener NAME]";

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
  if (command !== "connect" && command !== "bind" && command !== "udp") {
    throw usage(`--command: connect, bind or udp, got ${command}`);
  }
  const to = values.to === undefined ? undefined : parseHostPort(values.to);
  if (values.to !== undefined && to === undefined)
    throw usage(`--to: expected HOST:PORT ([v6]:PORT), got ${values.to}`);
  if (command !== "bind" && to === undefined) throw usage(`--to HOST:PORT is required for ${command}`);
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

function usage(message: string): GatehouseError {
  return new GatehouseError("GH_CLI_USAGE", `policy test: ${message}\n${USAGE}`);
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
    throw new GatehouseError(
      "GH_CLI_USAGE",
      `policy test: no listener ${JSON.stringify(command.listener)} (listeners: ${known})`,
    );
  }
  const policy = compileListenerPolicies(
    config.policy,
    listeners.map((entry) => entry.policy),
  )[index];
  const who = command.user === undefined ? "(no auth)" : command.user;
  const describe = (what: string): string =>
    `request: ${what} as ${who}, groups [${command.groups.join(", ")}], from ${command.from}, listener ${listener.name ?? listener.listen}`;
  const refuse = (what: string, ...why: string[]): number => {
    out.write(`${[describe(what), "decision: deny", ...why].join("\n")}\n`);
    return EXIT_POLICY_DENIED;
  };
  const port = command.to?.port ?? 0;
  // The destination as the proxy's parser reads it: a validated name, an address, or refused.
  const target = command.to === undefined ? undefined : interpretDestinationName(Buffer.from(command.to.host, "utf8"));
  const shownTarget = `${command.to === undefined ? "" : escapeName(Buffer.from(command.to.host, "utf8"))}:${String(port)}`;
  if (target?.kind === "refused") {
    return refuse(
      `${command.command} ${shownTarget}`,
      `reason: refused_name:${target.reason}: the proxy refuses this name (reply 04) and never looks it up`,
    );
  }
  const name = target?.kind === "name" ? target.host : undefined;
  const base = {
    identities: command.user === undefined ? [] : [command.user],
    groups: command.groups,
    authenticated: command.user !== undefined,
    client: parseIp(command.from),
    command: command.command,
    host: name,
    port,
    source: command.source === undefined ? undefined : parseIp(command.source),
    sourcePort: command.sourcePort,
  };
  let address = target === undefined || name !== undefined ? command.address : target.host;
  if (name !== undefined && command.command !== "bind") {
    const early =
      policy === undefined ? undefined : evaluatePolicyBeforeLookup(policy, { ...base, address: undefined });
    if (early !== undefined && !early.allowed) {
      return refuse(
        `${command.command} ${shownTarget}`,
        ruleLine(policy!, early),
        "note: decided on the name alone: not looked up",
      );
    }
    if (address === undefined) {
      const resolver = new DnsResolver(await dnsSettings(config.dns, configDir)); // the config's `dns`, as the proxy
      try {
        address = (await resolver.lookup(name)).address;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "error";
        return refuse(
          `${command.command} ${shownTarget}`,
          `reason: dns_failed:${code}: ${name} did not resolve; the proxy replies 04`,
        );
      } finally {
        resolver.close();
      }
    }
  }
  const what =
    command.command === "bind"
      ? `bind ${command.source ?? ""}:${String(command.sourcePort)}`
      : `${command.command} ${shownTarget}` +
        (address !== undefined && address !== command.to?.host ? ` (address ${address})` : "");
  const dialled = address === undefined ? undefined : parseIp(address);
  if (command.command !== "bind" && dialled !== undefined && isUnspecifiedAddress(dialled)) {
    return refuse(what, "reason: unspecified_address: 0.0.0.0/8 and :: are never dialled (reply 04)");
  }
  // A chosen source port (say 25) is a privilege: only an allowing rule whose source: names it grants it.
  const portNotNamed = (rule: Parameters<typeof sourcePortNamed>[0]): boolean =>
    command.command === "bind" &&
    command.sourcePort !== 0 &&
    base.source !== undefined &&
    !sourcePortNamed(rule, base.source, command.sourcePort);
  const SOURCE_PORT_DENIAL =
    "rule: source_port_not_named (a source port other than 0 needs an allowing rule whose source: entry names it)";
  if (policy === undefined) {
    if (portNotNamed(undefined)) return refuse(what, SOURCE_PORT_DENIAL);
    out.write(`${describe(what)}\ndecision: allow\nrule: none (no policy configured: every request is allowed)\n`);
    return 0;
  }
  const decision = evaluatePolicy(policy, { ...base, address: dialled });
  if (decision.allowed && portNotNamed(decision.rule?.source)) return refuse(what, SOURCE_PORT_DENIAL);
  out.write(
    `${[describe(what), `decision: ${decision.allowed ? "allow" : "deny"}`, ruleLine(policy, decision)].join("\n")}\n`,
  );
  return decision.allowed ? 0 : EXIT_POLICY_DENIED;
}

function ruleLine(policy: CompiledPolicy, decision: PolicyDecision): string {
  const rule = decision.rule;
  if (rule === undefined) return `rule: default (${policy.defaultAllow ? "allow" : "deny"}): no rule matched`;
  return `rule: ${decisionLabel(decision)}${rule.label === rule.path ? "" : ` (${rule.path})`}`;
}
