export { cidrContains, parseCidr } from "./cidr.js";
export type { CidrRange } from "./cidr.js";
export { PolicyConfigError, compileListenerPolicies, compilePolicyBlock, formatIssuePath } from "./compile.js";
export type { CompiledPolicy, CompiledRule, PolicyIssue } from "./compile.js";
export { DestinationKind, destinationMatches, parseDestination } from "./destination.js";
export type { DestinationPattern, DestinationView } from "./destination.js";
export { decisionLabel, evaluatePolicy, evaluatePolicyBeforeLookup } from "./evaluate.js";
export type { PolicyDecision, PolicyRequest } from "./evaluate.js";
export { isUnspecifiedAddress, parseIp } from "./ip.js";
export { parseSource, sourceMatches, sourcePortNamed } from "./source.js";
export type { SourcePattern } from "./source.js";
export type { ParsedIp } from "./ip.js";
export { ConnectionLimits } from "./limits.js";
export type { LimitExceeded, LimitSlot } from "./limits.js";
export { DEFAULT_POLICY_ACTION } from "./options.js";
export type {
  ListenerPolicyOptions,
  PolicyAction,
  PolicyCommand,
  PolicyOptions,
  PolicyRuleOptions,
} from "./options.js";
