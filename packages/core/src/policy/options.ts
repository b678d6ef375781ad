import { z } from "zod";
import { nonEmptyList, parsedString } from "../config/fields.js";
import { parseCidr } from "./cidr.js";
import { parseDestination } from "./destination.js";
import { parseSource } from "./source.js";

/**
 * Policy as written in config (snake_case): these schemas are the one definition of its keys,
 * used by compileListenerPolicies and composed into the server's config file schema.
 */

const policyAction = z.enum(["allow", "deny"], {
  error: (issue) =>
    issue.input === undefined
      ? "required (allow or deny)"
      : `expected allow or deny, got ${JSON.stringify(issue.input)}`,
});
const policyCommand = z.enum(["connect", "bind", "udp"], {
  error: (issue) => `unknown command ${JSON.stringify(issue.input)} (connect, bind or udp)`,
});
const nonEmptyString = z.string({ error: "expected a non-empty string" }).min(1, "expected a non-empty string");
const noLimit = z
  .number()
  .int("expected a non-negative integer (0 = no limit)")
  .nonnegative("expected a non-negative integer (0 = no limit)");

/** The keys a rule matches on; a rule needs at least one (a catch-all is `default:`). */
export const POLICY_MATCH_KEYS = ["identities", "groups", "authenticated", "from", "to", "command", "source"] as const;

/** One rule: `action` and the match keys, all of which must match. */
export const policyRuleSchema = z
  .strictObject({
    /** Shown in logs and in the `rule` label of proxy_policy_denied_total; default: the rule's path. */
    name: nonEmptyString.optional(),
    action: policyAction,
    /** Any of these identities (as the provider returned them). */
    identities: nonEmptyList(nonEmptyString).optional(),
    /** Any of these groups. */
    groups: nonEmptyList(nonEmptyString).optional(),
    /** `false` matches sessions that used the no-auth method, `true` those that authenticated. */
    authenticated: z.boolean({ error: "expected true or false" }).optional(),
    /** Client networks. */
    from: nonEmptyList(parsedString(parseCidr)).optional(),
    /** Destinations: CIDRs, addresses, host names, `*.domain`, `*`; each with an optional :port or :low-high. */
    to: nonEmptyList(parsedString(parseDestination)).optional(),
    command: z
      .union([policyCommand, nonEmptyList(policyCommand, "expected connect, bind, udp or a list of them")])
      .optional(),
    /** Local source addresses (KumoMTA's BIND): the address a BIND asks for, or the one a CONNECT leaves from. */
    source: nonEmptyList(parsedString(parseSource)).optional(),
  })
  .superRefine((rule, ctx) => {
    if (POLICY_MATCH_KEYS.every((key) => rule[key] === undefined)) {
      ctx.addIssue({
        code: "custom",
        message: `empty match: give at least one of ${POLICY_MATCH_KEYS.join(", ")} (use default: for a catch-all)`,
      });
    }
  });

/** Connection limits are server-wide: in a listener's block they are a mistake worth naming. */
const topLevelOnly = z.never({ error: "unknown key (connection limits belong in the top-level policy)" }).optional();

const topLevelOnlyKeys = { max_connections_per_identity: topLevelOnly, max_connections_per_ip: topLevelOnly };

/** A listener's own policy: its rules are evaluated before the top-level ones. */
export const listenerPolicySchema = z.strictObject({
  /** Overrides the top-level default for this listener. */
  default: policyAction.optional(),
  rules: z.array(policyRuleSchema, { error: "expected a list of rules" }).optional(),
  ...topLevelOnlyKeys,
});

/** The top-level `policy:` block: rules and default (deny when absent), plus the server-wide connection limits. */
export const policySchema = z.strictObject({
  default: policyAction.optional(),
  /** Open sessions (that passed the policy) per identity, server-wide; 0 or absent = no limit. */
  max_connections_per_identity: noLimit.optional(),
  /** Open sessions (that passed the policy) per client IP, server-wide; 0 or absent = no limit. */
  max_connections_per_ip: noLimit.optional(),
  rules: z.array(policyRuleSchema, { error: "expected a list of rules" }).optional(),
});

/** What a rule or a default does: `allow` or `deny`. */
export type PolicyAction = z.output<typeof policyAction>;
/** The SOCKS commands a rule can match (`command:`). */
export type PolicyCommand = z.output<typeof policyCommand>;
/** One rule as written in config (see policyRuleSchema). */
export type PolicyRuleOptions = z.input<typeof policyRuleSchema>;
/**
 * A listener's own `policy:` block as written in config (see listenerPolicySchema); without
 * the keys that only exist to be refused, so a PolicyOptions is a ListenerPolicyOptions too.
 */
export type ListenerPolicyOptions = Omit<z.input<typeof listenerPolicySchema>, keyof typeof topLevelOnlyKeys>;
/** The top-level `policy:` block as written in config (see policySchema). */
export type PolicyOptions = z.input<typeof policySchema>;

/** A policy block with no `default:` denies what no rule allows. */
export const DEFAULT_POLICY_ACTION: PolicyAction = "deny";
