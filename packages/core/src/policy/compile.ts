import { GatehouseError } from "../errors/gatehouse-error.js";
import { parseCidr } from "./cidr.js";
import type { CidrRange } from "./cidr.js";
import { parseDestination } from "./destination.js";
import type { DestinationPattern } from "./destination.js";
import { parseSource } from "./source.js";
import type { SourcePattern } from "./source.js";
import { DEFAULT_POLICY_ACTION, POLICY_MATCH_KEYS, POLICY_RULE_KEYS } from "./options.js";
import type { ListenerPolicyOptions, PolicyOptions, PolicyRuleOptions } from "./options.js";

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

export const CommandBit = { connect: 1, bind: 2 } as const;

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
  const topRules = top === undefined ? [] : compilePolicyBlock(top, ["policy"], issues, true);
  const compiled = listeners.map((own, index) => {
    const ownRules = own === undefined ? [] : compilePolicyBlock(own, ["listeners", index, "policy"], issues, false);
    if (top === undefined && own === undefined) return undefined;
    const action = own?.default ?? top?.default ?? DEFAULT_POLICY_ACTION;
    return {
      rules: [...ownRules, ...topRules],
      defaultAllow: action === "allow",
      maxPerIdentity: top?.max_connections_per_identity ?? 0,
      maxPerIp: top?.max_connections_per_ip ?? 0,
    };
  });
  if (issues.length > 0) throw new PolicyConfigError(issues);
  return compiled;
}

/** Validates a policy block (top level when `topLevel`); returns its compiled rules and records problems. */
export function compilePolicyBlock(
  block: PolicyOptions,
  path: readonly (string | number)[],
  issues: PolicyIssue[],
  topLevel: boolean,
): CompiledRule[] {
  // Typed input may still come from plain JavaScript or a config: check everything.
  const raw: unknown = block;
  if (!isRecord(raw)) {
    issues.push({ path, message: "expected a mapping with rules and default" });
    return [];
  }
  const known = topLevel
    ? ["default", "rules", "max_connections_per_identity", "max_connections_per_ip"]
    : ["default", "rules"];
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) {
      const hint = topLevel ? "" : " (connection limits belong in the top-level policy)";
      issues.push({ path: [...path, key], message: `unknown key${hint}` });
    }
  }
  if (raw.default !== undefined && raw.default !== "allow" && raw.default !== "deny") {
    issues.push({
      path: [...path, "default"],
      message: `expected allow or deny, got ${JSON.stringify(raw.default)}`,
    });
  }
  for (const key of ["max_connections_per_identity", "max_connections_per_ip"] as const) {
    const value = raw[key];
    if (value !== undefined && (typeof value !== "number" || !Number.isInteger(value) || value < 0)) {
      issues.push({ path: [...path, key], message: "expected a non-negative integer (0 = no limit)" });
    }
  }
  const rules: unknown = raw.rules;
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) {
    issues.push({ path: [...path, "rules"], message: "expected a list of rules" });
    return [];
  }
  return (rules as PolicyRuleOptions[]).flatMap((rule, index) => {
    const rulePath = [...path, "rules", index];
    const compiled = compileRule(rule, rulePath, issues);
    return compiled === undefined ? [] : [compiled];
  });
}

function compileRule(
  rule: PolicyRuleOptions,
  path: readonly (string | number)[],
  issues: PolicyIssue[],
): CompiledRule | undefined {
  const before = issues.length;
  const at = (key: string | number, ...more: (string | number)[]): (string | number)[] => [...path, key, ...more];
  const raw: unknown = rule;
  if (!isRecord(raw)) {
    issues.push({ path, message: "expected a mapping with action and match keys" });
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!POLICY_RULE_KEYS.includes(key)) issues.push({ path: at(key), message: "unknown key" });
  }
  if (raw.action !== "allow" && raw.action !== "deny") {
    issues.push({
      path: at("action"),
      message:
        raw.action === undefined
          ? "required (allow or deny)"
          : `expected allow or deny, got ${JSON.stringify(raw.action)}`,
    });
  }
  if (raw.name !== undefined && (typeof raw.name !== "string" || raw.name === "")) {
    issues.push({ path: at("name"), message: "expected a non-empty string" });
  }
  if (!POLICY_MATCH_KEYS.some((key) => raw[key] !== undefined)) {
    issues.push({
      path,
      message: `empty match: give at least one of ${POLICY_MATCH_KEYS.join(", ")} (use default: for a catch-all)`,
    });
  }
  const list = <T>(key: keyof PolicyRuleOptions, parse: (text: string) => T): T[] | undefined => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.length === 0) {
      issues.push({ path: at(key), message: "expected a non-empty list" });
      return undefined;
    }
    return (value as unknown[]).flatMap((item, index) => {
      if (typeof item !== "string" || item === "") {
        issues.push({ path: at(key, index), message: "expected a non-empty string" });
        return [];
      }
      try {
        return [parse(item)];
      } catch (error) {
        issues.push({ path: at(key, index), message: (error as Error).message });
        return [];
      }
    });
  };
  const identities = list("identities", (text) => text);
  const groups = list("groups", (text) => text);
  const from = list("from", parseCidr);
  const to = list("to", parseDestination);
  const source = list("source", parseSource);
  if (raw.authenticated !== undefined && typeof raw.authenticated !== "boolean") {
    issues.push({ path: at("authenticated"), message: "expected true or false" });
  }
  let commands = 0;
  const command = raw.command;
  if (command !== undefined) {
    const names: readonly unknown[] = Array.isArray(command) ? command : [command];
    if (names.length === 0) issues.push({ path: at("command"), message: "expected connect, bind or a list of them" });
    names.forEach((name, index) => {
      if (name === "connect" || name === "bind") commands |= CommandBit[name];
      else {
        const where = Array.isArray(command) ? at("command", index) : at("command");
        issues.push({ path: where, message: `unknown command ${JSON.stringify(name)} (connect or bind)` });
      }
    });
  }
  if (issues.length > before) return undefined;
  const rulePath = formatIssuePath(path);
  return {
    allow: rule.action === "allow",
    label: rule.name ?? rulePath,
    path: rulePath,
    identities: identities === undefined ? undefined : new Set(identities),
    groups: groups === undefined ? undefined : new Set(groups),
    authenticated: rule.authenticated,
    from,
    to,
    commands,
    source,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
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
