/** Policy as written in config (snake_case). `| undefined` so zod's optional output fits. */
export type PolicyAction = "allow" | "deny";
/** The SOCKS commands a rule can match (`command:`). */
export type PolicyCommand = "connect" | "bind";

/** One rule as written in config: `action` and the match keys, all of which must match. */
export interface PolicyRuleOptions {
  /** Shown in logs and in the `rule` label of proxy_policy_denied_total; default: the rule's path. */
  readonly name?: string | undefined;
  readonly action: PolicyAction;
  /** Any of these identities (as the provider returned them). */
  readonly identities?: readonly string[] | undefined;
  /** Any of these groups. */
  readonly groups?: readonly string[] | undefined;
  /** `false` matches sessions that used the no-auth method, `true` those that authenticated. */
  readonly authenticated?: boolean | undefined;
  /** Client networks. */
  readonly from?: readonly string[] | undefined;
  /** Destinations: CIDRs, addresses, host names, `*.domain`, `*`; each with an optional :port or :low-high. */
  readonly to?: readonly string[] | undefined;
  readonly command?: PolicyCommand | readonly PolicyCommand[] | undefined;
  /** Local source addresses (KumoMTA's BIND): the address a BIND asks for, or the one a CONNECT leaves from. */
  readonly source?: readonly string[] | undefined;
}

/** A listener's own policy: its rules are evaluated before the top-level ones. */
export interface ListenerPolicyOptions {
  /** Overrides the top-level default for this listener. */
  readonly default?: PolicyAction | undefined;
  readonly rules?: readonly PolicyRuleOptions[] | undefined;
}

/** The top-level `policy:` block: rules and default, plus the server-wide connection limits. */
export interface PolicyOptions extends ListenerPolicyOptions {
  /** Open sessions (that passed the policy) per identity, server-wide; 0 or absent = no limit. */
  readonly max_connections_per_identity?: number | undefined;
  /** Open sessions (that passed the policy) per client IP, server-wide; 0 or absent = no limit. */
  readonly max_connections_per_ip?: number | undefined;
}

/** A policy block with no `default:` denies what no rule allows. */
export const DEFAULT_POLICY_ACTION: PolicyAction = "deny";

export const POLICY_RULE_KEYS: readonly string[] = [
  "name",
  "action",
  "identities",
  "groups",
  "authenticated",
  "from",
  "to",
  "command",
  "source",
];
export const POLICY_MATCH_KEYS: readonly string[] = [
  "identities",
  "groups",
  "authenticated",
  "from",
  "to",
  "command",
  "source",
];
