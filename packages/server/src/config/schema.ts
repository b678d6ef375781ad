import { DNS_LIMITS, DNS_TIMEOUT_RANGE, parseDnsServer, parseHostPort } from "@gatehouse-proxy/core/engine";
import { parseCidr, parseSource, parseDestination } from "@gatehouse-proxy/core/policy";
import { parseDuration, z } from "@gatehouse-proxy/core";
import type { Duration } from "@gatehouse-proxy/core";

/** `500ms`, `60s`, `5m` or milliseconds; the message says what was expected. */
const duration = z.custom<Duration>().superRefine((value, ctx) => {
  try {
    if (typeof value !== "number" && typeof value !== "string") {
      throw new RangeError(`expected a duration such as 500ms, 60s or 5m, got ${typeof value}`);
    }
    parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
  }
});

function isDuration(value: unknown): boolean {
  if (typeof value !== "number" && typeof value !== "string") return false;
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}

/** A duration, or a value of another kind that `allowed` accepts (`false`, a boolean). */
function durationOr<T>(allowed: (value: unknown) => value is T, what: string) {
  return z.custom<Duration | T>().superRefine((value, ctx) => {
    if (allowed(value) || isDuration(value)) return;
    ctx.addIssue({
      code: "custom",
      message: `expected ${what} or a duration such as 500ms, 60s or 5m, got ${JSON.stringify(value)}`,
    });
  });
}

const isFalse = (value: unknown): value is false => value === false;
const isBoolean = (value: unknown): value is boolean => typeof value === "boolean";

const listenAddress = z.string().superRefine((value, ctx) => {
  if (parseHostPort(value) === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected host:port (IPv6 as [::1]:1080), got ${JSON.stringify(value)}`,
    });
  }
});

const count = z.number().int().positive();

/** A string that `parse` accepts; its RangeError message becomes the issue. */
function parsedString(parse: (text: string) => unknown) {
  return z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      try {
        parse(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
      }
    });
}

const policyAction = z.enum(["allow", "deny"]);
const policyCommand = z.enum(["connect", "bind"]);
const nonEmptyList = <T extends z.ZodType>(item: T) => z.array(item).min(1);
const POLICY_MATCH_KEYS = ["identities", "groups", "authenticated", "from", "to", "command", "source"] as const;

/** One `pass/block` rule: every key it has must match; `action` decides. */
export const policyRuleSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    action: policyAction,
    identities: nonEmptyList(z.string().min(1)).optional(),
    groups: nonEmptyList(z.string().min(1)).optional(),
    authenticated: z.boolean().optional(),
    from: nonEmptyList(parsedString(parseCidr)).optional(),
    to: nonEmptyList(parsedString(parseDestination)).optional(),
    command: z.union([policyCommand, nonEmptyList(policyCommand)]).optional(),
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

/** A listener's own rules (evaluated before the top-level ones) and optionally its own default. */
export const listenerPolicySchema = z.strictObject({
  default: policyAction.optional(),
  rules: z.array(policyRuleSchema).optional(),
});

/** The top-level policy: rules, the default (deny when absent), server-wide connection limits. */
export const policySchema = z.strictObject({
  default: policyAction.optional(),
  rules: z.array(policyRuleSchema).optional(),
  max_connections_per_identity: z.number().int().nonnegative().optional(),
  max_connections_per_ip: z.number().int().nonnegative().optional(),
});

export const listenerSchema = z.strictObject({
  listen: listenAddress,
  name: z.string().min(1).optional(),
  require_auth: z.boolean().optional(),
  timeout: duration.optional(),
  handshake_timeout: duration.optional(),
  connect_timeout: duration.optional(),
  idle_timeout: durationOr(isFalse, "false").optional(),
  fin_wait_timeout: duration.optional(),
  tcp_keepalive: durationOr(isBoolean, "true/false").optional(),
  /** This listener's own cap; default: the budget derived from the fd limit, shared by the listeners. */
  max_connections: count.optional(),
  /** Unauthenticated connections per client IP (oldest silent one closed beyond it); default 256, 0 = no limit. */
  max_unauthenticated_per_ip: z
    .number()
    .int("expected a whole number of connections (0 = no limit)")
    .nonnegative("expected 0 (no limit) or more")
    .optional(),
  use_tls: z.boolean().optional(),
  tls_certificate: z.string().min(1).optional(),
  tls_private_key: z.string().min(1).optional(),
  policy: listenerPolicySchema.optional(),
});

/** One provider instance: `use:` and `on_error:` are the host's; the rest is the plugin's. */
export const providerEntrySchema = z.looseObject({
  use: z.string().min(1),
  on_error: z.enum(["deny", "next"]).optional(),
});

const cacheSchema = z.union([
  z.literal(false),
  z.strictObject({
    ttl: duration.optional(),
    negative_ttl: duration.optional(),
    max_entries: count.optional(),
  }),
]);

const throttleSchema = z.union([
  z.literal(false),
  z.strictObject({
    max_failures: count.optional(),
    window: duration.optional(),
    block: duration.optional(),
    max_tracked: count.optional(),
    familiar_for: duration.optional(),
  }),
]);

export const authSchema = z
  .strictObject({
    provider: z.string().min(1).optional(),
    chain: z.array(z.string().min(1)).min(1).optional(),
    providers: z.record(z.string(), providerEntrySchema).default({}),
    timeout: duration.optional(),
    cache: cacheSchema.optional(),
    throttle: throttleSchema.optional(),
  })
  .superRefine((auth, ctx) => {
    if (auth.provider !== undefined && auth.chain !== undefined) {
      ctx.addIssue({ code: "custom", path: ["chain"], message: "give either provider or chain, not both" });
    }
    const defined = Object.keys(auth.providers);
    const known = defined.length === 0 ? "none are defined under auth.providers" : `defined: ${defined.join(", ")}`;
    const check = (name: string, path: PropertyKey[]): void => {
      if (!Object.hasOwn(auth.providers, name)) {
        ctx.addIssue({ code: "custom", path, message: `unknown provider ${JSON.stringify(name)} (${known})` });
      }
    };
    if (auth.provider !== undefined) check(auth.provider, ["provider"]);
    auth.chain?.forEach((name, index) => check(name, ["chain", index]));
  });

export const logSchema = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  format: z.enum(["json", "pretty"]).optional(),
  /** How often the `handshake_failures` summary line is written (when there were any); default 10s. */
  handshake_failures_interval: duration
    .superRefine((value, ctx) => {
      if (isDuration(value) && parseDuration(value) < 1)
        ctx.addIssue({ code: "custom", message: "must be at least 1ms" });
    })
    .optional(),
});

/** The admin HTTP listener (/metrics, /healthz, /readyz); off unless this section is present. */
export const adminSchema = z.strictObject({
  /** `host:port`; default 127.0.0.1:9090 (loopback). */
  listen: listenAddress.optional(),
});

const dnsServer = z.string().superRefine((value, ctx) => {
  if (parseDnsServer(value) === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected an IP address with an optional port (192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53), got ${JSON.stringify(value)}`,
    });
  }
});

const dnsTimeout = duration.superRefine((value, ctx) => {
  if (!isDuration(value)) return; // reported by duration
  const ms = parseDuration(value);
  if (ms < 1 || ms > DNS_LIMITS.maxTimeoutMs) ctx.addIssue({ code: "custom", message: DNS_TIMEOUT_RANGE });
});

/** How CONNECT host names are resolved: the hosts file, then these servers (README "DNS"). */
export const dnsSchema = z.strictObject({
  /** Default: the nameservers of /etc/resolv.conf. */
  servers: nonEmptyList(dnsServer).optional(),
  timeout: dnsTimeout.optional(),
  tries: z.number().int().min(1).max(DNS_LIMITS.maxTries).optional(),
  cache_ttl: duration.optional(),
  negative_cache_ttl: duration.optional(),
  max_in_flight_per_identity: count.optional(),
  /** Relative to the config file's folder; default /etc/hosts. */
  hosts_file: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  listeners: z.array(listenerSchema).min(1),
  auth: authSchema.optional(),
  log: logSchema.optional(),
  admin: adminSchema.optional(),
  /** Authorization rules for every request; absent = everything allowed (see docs/policy.md). */
  policy: policySchema.optional(),
  dns: dnsSchema.optional(),
  /**
   * SIGTERM/SIGINT: how long established tunnels may drain after the listeners stop
   * accepting, before the rest are ended; default 10s.
   */
  shutdown_timeout: duration.optional(),
});

export type GatehouseConfig = z.output<typeof configSchema>;
export type ListenerConfig = z.output<typeof listenerSchema>;
export type AuthConfig = z.output<typeof authSchema>;
export type ProviderEntry = z.output<typeof providerEntrySchema>;
export type LogConfig = z.output<typeof logSchema>;
export type AdminConfig = z.output<typeof adminSchema>;
export type PolicyConfig = z.output<typeof policySchema>;
export type DnsConfig = z.output<typeof dnsSchema>;
