import { anyCidrContains } from "./cidr.js";
import { sourceMatches } from "./source.js";
import { CommandBit } from "./compile.js";
import type { CompiledPolicy, CompiledRule } from "./compile.js";
import { DestinationKind, destinationMatches } from "./destination.js";
import type { DestinationView } from "./destination.js";
import type { ParsedIp } from "./ip.js";
import type { PolicyCommand } from "./options.js";

/** One request as the policy sees it, prepared once; evaluation allocates nothing. */
export interface PolicyRequest extends DestinationView {
  /** Empty for a session that used the no-auth method. */
  readonly identities: readonly string[];
  readonly groups: readonly string[];
  readonly authenticated: boolean;
  readonly client: ParsedIp | undefined;
  readonly command: PolicyCommand;
  /** BIND: the address asked for; CONNECT: the source address bound earlier, if any. */
  readonly source: ParsedIp | undefined;
  /** The source port with it (0: the system picks one). */
  readonly sourcePort?: number | undefined;
}

/** The deciding rule, or undefined when the default decided. */
export interface PolicyDecision {
  readonly allowed: boolean;
  readonly rule: CompiledRule | undefined;
  /** Position of the deciding rule in the listener's evaluation order; -1 for the default. */
  readonly index: number;
}

const ALLOW_BY_DEFAULT: PolicyDecision = { allowed: true, rule: undefined, index: -1 };
const DENY_BY_DEFAULT: PolicyDecision = { allowed: false, rule: undefined, index: -1 };

/** First match wins; a rule matches when every key it has matches. */
export function evaluatePolicy(policy: CompiledPolicy, request: PolicyRequest): PolicyDecision {
  const { rules } = policy;
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    if (ruleMatches(rule, request)) return { allowed: rule.allow, rule, index };
  }
  return policy.defaultAllow ? ALLOW_BY_DEFAULT : DENY_BY_DEFAULT;
}

/**
 * Before a host name is looked up: the decision when the name alone settles it — the first
 * rule that matches whatever the address, every rule before it failing whatever the address
 * (or the default, when every rule fails so). Undefined when some rule on the way depends on
 * the address (a network in `to:`): then the name is resolved and evaluatePolicy decides, and
 * it decides the same way whenever this one did. A name the policy denies is never looked up.
 */
export function evaluatePolicyBeforeLookup(policy: CompiledPolicy, request: PolicyRequest): PolicyDecision | undefined {
  const { rules } = policy;
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    const match = matchBeforeLookup(rule, request);
    if (match === Match.Yes) return { allowed: rule.allow, rule, index };
    if (match === Match.NeedsAddress) return undefined;
  }
  return policy.defaultAllow ? ALLOW_BY_DEFAULT : DENY_BY_DEFAULT;
}

/**
 * A UDP ASSOCIATE, before any datagram names a destination: allowed when some destination
 * could be — the first rule that matches apart from destinations decides if it names none
 * (`to:`), an allowing rule with `to:` is enough, a denying one only denies those
 * destinations. Each datagram is then decided by evaluatePolicy with its destination.
 */
export function evaluatePolicyForAnyDestination(policy: CompiledPolicy, request: PolicyRequest): PolicyDecision {
  const { rules } = policy;
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    if (!matchesApartFromDestination(rule, request)) continue;
    if (rule.to === undefined || rule.allow) return { allowed: rule.allow, rule, index };
  }
  return policy.defaultAllow ? ALLOW_BY_DEFAULT : DENY_BY_DEFAULT;
}

/** The label a decision is logged and counted under. */
export function decisionLabel(decision: PolicyDecision): string {
  return decision.rule?.label ?? "default";
}

function ruleMatches(rule: CompiledRule, request: PolicyRequest): boolean {
  if (!matchesApartFromDestination(rule, request)) return false;
  if (rule.to !== undefined) {
    // BIND has no destination: a rule about destinations never matches it.
    if (request.command === "bind") return false;
    let hit = false;
    for (let i = 0; i < rule.to.length && !hit; i++) hit = destinationMatches(rule.to[i]!, request);
    if (!hit) return false;
  }
  return true;
}

const Match = { No: 0, Yes: 1, NeedsAddress: 2 } as const;
type Match = (typeof Match)[keyof typeof Match];

function matchBeforeLookup(rule: CompiledRule, request: PolicyRequest): Match {
  if (!matchesApartFromDestination(rule, request)) return Match.No;
  if (rule.to === undefined) return Match.Yes;
  if (request.command === "bind") return Match.No;
  let needsAddress = false;
  for (let i = 0; i < rule.to.length; i++) {
    const pattern = rule.to[i]!;
    if (pattern.kind === DestinationKind.Cidr) {
      if (request.port >= pattern.portLow && request.port <= pattern.portHigh) needsAddress = true;
    } else if (destinationMatches(pattern, request)) {
      return Match.Yes;
    }
  }
  return needsAddress ? Match.NeedsAddress : Match.No;
}

function matchesApartFromDestination(rule: CompiledRule, request: PolicyRequest): boolean {
  if (rule.commands !== 0 && (rule.commands & CommandBit[request.command]) === 0) return false;
  if (rule.authenticated !== undefined && rule.authenticated !== request.authenticated) return false;
  if (rule.identities !== undefined && !anyIn(rule.identities, request.identities)) return false;
  if (rule.groups !== undefined && !anyIn(rule.groups, request.groups)) return false;
  if (rule.from !== undefined && (request.client === undefined || !anyCidrContains(rule.from, request.client))) {
    return false;
  }
  if (rule.source !== undefined) {
    if (request.source === undefined) return false;
    let hit = false;
    for (let i = 0; i < rule.source.length && !hit; i++) {
      hit = sourceMatches(rule.source[i]!, request.source, request.sourcePort ?? 0);
    }
    if (!hit) return false;
  }
  return true;
}

function anyIn(set: ReadonlySet<string>, values: readonly string[]): boolean {
  for (let i = 0; i < values.length; i++) if (set.has(values[i]!)) return true;
  return false;
}
