/**
 * `@gatehouse-proxy/core/policy`: the policy compiler — config rules in, compiled policies
 * out, and the evaluator the engine and `gatehouse policy test` run them with. Every name here
 * is pinned by packages/plugin-testkit/test/unit/core-entry-points.test.ts.
 */
export { parseCidr } from "./cidr.js";
export type { CidrRange } from "./cidr.js";
export { PolicyConfigError, compileListenerPolicies } from "./compile.js";
export type { CompiledPolicy, CompiledRule, PolicyIssue } from "./compile.js";
export { parseDestination } from "./destination.js";
export type { DestinationPattern } from "./destination.js";
export {
  decisionLabel,
  evaluatePolicy,
  evaluatePolicyBeforeLookup,
  evaluatePolicyForAnyDestination,
} from "./evaluate.js";
export type { PolicyDecision, PolicyRequest } from "./evaluate.js";
export { isUnspecifiedAddress, parseIp } from "./ip.js";
export type { ParsedIp } from "./ip.js";
export { parseSource, sourcePortNamed } from "./source.js";
export type { SourcePattern } from "./source.js";
export { DEFAULT_POLICY_ACTION, listenerPolicySchema, policyRuleSchema, policySchema } from "./options.js";
export type {
  ListenerPolicyOptions,
  PolicyAction,
  PolicyCommand,
  PolicyOptions,
  PolicyRuleOptions,
} from "./options.js";
