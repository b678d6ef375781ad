import { GatehouseError } from "../errors/gatehouse-error.js";
import type { z } from "zod";
import { configIssues } from "../config/issues.js";
import { parseCidr } from "./cidr.js";
import type { CidrRange } from "./cidr.js";
import { parseDestination } from "./destination.js";
import type { DestinationPattern } from "./destination.js";
import { parseSource } from "./source.js";
import type { SourcePattern } from "./source.js";
import { DEFAULT_POLICY_ACTION, listenerPolicySchema, policySchema } from "./options.js";
import type { ListenerPolicyOptions, PolicyOptions, policyRuleSchema } from "./options.js";

/** One problem in a policy, with the path of the offending value. */
export interface PolicyIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Every problem of a policy; `problems` are `path: message` lines. */
export class PolicyConfigError extends GatehouseError {
  constructor(readonly issues: readonly PolicyIssue[]) {
    super(
      "GH_CONFIG_POLICY_INVALID",
      issues.map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`),
    );
    this.name = "PolicyConfigError";
  }
}

export const CommandBit = { connect: 1, bind: 2, udp: 4 } as const;

/** A rule compiled once at load time: match sets and parsed networks, evaluated without allocation. */
export interface CompiledRule {
  readonly allow: boolean;
  /** The rule's name, or its path (`policy.rules[3]`, `listeners[0].policy.rules[1]`). */
  readonly label: string;
  readonly path: string;
  readonly identities: ReadonlySet<string> | undefined;
  readonly groups: ReadonlySet<string> | undefined;
  readonly authenticated: boolean | undefined;
  readonly from: readonly CidrRange[] | undefined;
  readonly to: readonly DestinationPattern[] | undefined;
  /** CommandBit flags; 0 = any command. */
  readonly commands: number;
  /** Local source addresses, each with the ports it names (any when none are written). */
  readonly source: readonly SourcePattern[] | undefined;
}

/** What one listener enforces: its rules, then the top-level ones, then the default. */
export interface CompiledPolicy {
  readonly rules: readonly CompiledRule[];
  readonly defaultAllow: boolean;
  readonly maxPerIdentity: number;
  readonly maxPerIp: number;
}

/**
 * Compiles the policy of each listener. Undefined (no policy: everything allowed, no
 * limits) when neither the top level nor the listener has a policy block.
 */
export function compileListenerPolicies(
  top: PolicyOptions | undefined,
  listeners: readonly (ListenerPolicyOptions | undefined)[],
): (CompiledPolicy | undefined)[] {
  const issues: PolicyIssue[] = [];
  const checked = <T>(schema: z.ZodType<T>, block: unknown, path: readonly (string | number)[]): T | undefined => {
    if (block === undefined) return undefined;
    const result = schema.safeParse(block);
    if (result.success) return result.data;
    for (const issue of configIssues(result.error.issues, path)) {
      issues.push({
        path: issue.path.map((part) => (typeof part === "number" ? part : String(part))),
        message: issue.message,
      });
    }
    return undefined;
  };
  const topBlock = checked(policySchema, top, ["policy"]);
  const ownBlocks = listeners.map((own, index) => checked(listenerPolicySchema, own, ["listeners", index, "policy"]));
  if (issues.length > 0) throw new PolicyConfigError(issues);
  const topRules = compileRules(topBlock?.rules, ["policy"]);
  return ownBlocks.map((own, index) => {
    if (topBlock === undefined && own === undefined) return undefined;
    const action = own?.default ?? topBlock?.default ?? DEFAULT_POLICY_ACTION;
    return {
      rules: [...compileRules(own?.rules, ["listeners", index, "policy"]), ...topRules],
      defaultAllow: action === "allow",
      maxPerIdentity: topBlock?.max_connections_per_identity ?? 0,
      maxPerIp: topBlock?.max_connections_per_ip ?? 0,
    };
  });
}

/** Compiles validated rules (policyRuleSchema has checked every value these parsers see). */
function compileRules(
  rules: readonly z.output<typeof policyRuleSchema>[] | undefined,
  path: readonly (string | number)[],
): CompiledRule[] {
  return (rules ?? []).map((rule, index) => {
    const rulePath = formatIssuePath([...path, "rules", index]);
    const commands = rule.command === undefined ? [] : typeof rule.command === "string" ? [rule.command] : rule.command;
    return {
      allow: rule.action === "allow",
      label: rule.name ?? rulePath,
      path: rulePath,
      identities: rule.identities === undefined ? undefined : new Set(rule.identities),
      groups: rule.groups === undefined ? undefined : new Set(rule.groups),
      authenticated: rule.authenticated,
      from: rule.from?.map(parseCidr),
      to: rule.to?.map(parseDestination),
      commands: commands.reduce((bits, name) => bits | CommandBit[name], 0),
      source: rule.source?.map(parseSource),
    };
  });
}

/** `["rules", 3, "to", 0]` → `rules[3].to[0]`: the path form used in config errors. */
export function formatIssuePath(path: readonly (string | number)[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${String(part)}]`;
    else text += text === "" ? part : `.${part}`;
  }
  return text === "" ? "policy" : text;
}
