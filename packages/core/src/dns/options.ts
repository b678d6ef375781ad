import { GatehouseError } from "../errors/gatehouse-error.js";
import { isIP } from "node:net";
import { z } from "zod";
import { duration, isDuration, nonEmptyList } from "../config/fields.js";
import { formatIssues } from "../config/issues.js";
import { parseDuration } from "../util/duration.js";
import type { Duration } from "../util/duration.js";

/** DnsOptions with defaults applied and durations in milliseconds. */
export interface ResolvedDnsOptions {
  /** undefined = the system's (/etc/resolv.conf). */
  readonly servers: readonly string[] | undefined;
  readonly timeoutMs: number;
  readonly tries: number;
  readonly cacheTtlMs: number;
  readonly negativeCacheTtlMs: number;
  readonly maxInFlightPerIdentity: number;
  readonly hostsFile: string;
  /** hosts_file was configured: a file that cannot be read is an error, not an empty table. */
  readonly hostsFileRequired: boolean;
}

/** What an absent `dns` option means. */
export const DNS_DEFAULTS = {
  timeoutMs: 2000,
  tries: 2,
  cacheTtlMs: 60_000,
  negativeCacheTtlMs: 5000,
  maxInFlightPerIdentity: 8,
  hostsFile: "/etc/hosts",
} as const;

/** Bounds that keep a typo from disabling lookups or holding sessions for minutes. */
export const DNS_LIMITS = { maxTimeoutMs: 60_000, maxTries: 10 } as const;

const TRIES_RANGE = `must be a whole number from 1 to ${String(DNS_LIMITS.maxTries)}`;

/** Invalid DNS options; `problems` names every bad value with its config path. */
export class DnsConfigError extends GatehouseError {
  constructor(problems: readonly string[]) {
    super("GH_CONFIG_DNS_INVALID", problems);
    this.name = "DnsConfigError";
  }
}

/** The message for a `timeout` outside DNS_LIMITS. */
const DNS_TIMEOUT_RANGE = `must be between 1ms and ${String(DNS_LIMITS.maxTimeoutMs / 1000)}s`;

const dnsServer = z.string().superRefine((value, ctx) => {
  if (parseDnsServer(value) === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected an IP address with an optional port (1.1.1.1, 1.1.1.1:53, [::1]:53), got ${JSON.stringify(value)}`,
    });
  }
});

const dnsTimeout = duration.superRefine((value, ctx) => {
  if (!isDuration(value)) return; // reported by duration
  const ms = parseDuration(value);
  if (ms < 1 || ms > DNS_LIMITS.maxTimeoutMs) ctx.addIssue({ code: "custom", message: DNS_TIMEOUT_RANGE });
});

/**
 * How host names in CONNECT requests are resolved, as configured (`dns:`; snake_case): the
 * one definition of the keys, used by DnsResolver and composed into the server's config file schema.
 */
export const dnsOptionsSchema = z.strictObject({
  /**
   * Name servers, each `IP` or `IP:port` (IPv6 as `::1` or `[::1]:53`), asked in order.
   * Default: the `nameserver` lines of /etc/resolv.conf.
   */
  servers: nonEmptyList(dnsServer, "give at least one server, or leave it out to use /etc/resolv.conf's").optional(),
  /** How long one try waits for an answer. Default 2s. */
  timeout: dnsTimeout.optional(),
  /** Tries per query; a lookup fails after timeout × tries at the latest. Default 2. */
  tries: z.number().int(TRIES_RANGE).min(1, TRIES_RANGE).max(DNS_LIMITS.maxTries, TRIES_RANGE).optional(),
  /** The longest an answer is reused; an answer's own shorter TTL wins. 0 = no cache. Default 60s. */
  cache_ttl: duration.optional(),
  /** How long "no such name" / "no address" is remembered. 0 = not at all. Default 5s. */
  negative_cache_ttl: duration.optional(),
  /**
   * Lookups one identity (or, before authentication, one client IP) may have waiting on the
   * servers at once; the next one is refused at once. Default 8.
   */
  max_in_flight_per_identity: z
    .number()
    .int("must be a whole number of at least 1")
    .min(1, "must be a whole number of at least 1")
    .optional(),
  /** Answered before any server is asked, re-read when it changes. Default /etc/hosts. */
  hosts_file: z.string({ error: "must be a file path" }).min(1, "must be a file path").optional(),
});

/** The `dns` options as written in config (see dnsOptionsSchema). */
export type DnsOptions = z.input<typeof dnsOptionsSchema>;

/**
 * A name server as `setServers` takes it: `IP`, `IP:port`, `IPv6`, `[IPv6]` or `[IPv6]:port`.
 * Returns undefined when it is none of these (a host name is not accepted: it would need a lookup).
 */
export function parseDnsServer(text: string): { readonly host: string; readonly port: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return withPort(bracketed[1]!, bracketed[2], 6);
  if (isIP(text) === 6) return { host: text, port: 53 };
  const v4 = /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  if (v4) return withPort(v4[1]!, v4[2], 4);
  return undefined;
}

function withPort(host: string, port: string | undefined, family: 4 | 6): { host: string; port: number } | undefined {
  if (isIP(host) !== family) return undefined;
  const number = port === undefined ? 53 : Number(port);
  return number >= 1 && number <= 65535 ? { host, port: number } : undefined;
}

/** Validates and applies defaults; throws DnsConfigError naming each bad value under `path`. */
export function resolveDnsOptions(input: DnsOptions = {}, path = "dns"): ResolvedDnsOptions {
  const result = dnsOptionsSchema.safeParse(input);
  if (!result.success) throw new DnsConfigError(formatIssues(result.error.issues, path));
  const options = result.data;
  const ms = (value: Duration | undefined, fallback: number): number =>
    value === undefined ? fallback : parseDuration(value);
  return {
    servers: options.servers,
    timeoutMs: ms(options.timeout, DNS_DEFAULTS.timeoutMs),
    tries: options.tries ?? DNS_DEFAULTS.tries,
    cacheTtlMs: ms(options.cache_ttl, DNS_DEFAULTS.cacheTtlMs),
    negativeCacheTtlMs: ms(options.negative_cache_ttl, DNS_DEFAULTS.negativeCacheTtlMs),
    maxInFlightPerIdentity: options.max_in_flight_per_identity ?? DNS_DEFAULTS.maxInFlightPerIdentity,
    hostsFile: options.hosts_file ?? DNS_DEFAULTS.hostsFile,
    hostsFileRequired: options.hosts_file !== undefined,
  };
}
