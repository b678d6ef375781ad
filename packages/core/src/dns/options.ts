import { GatehouseError } from "../errors/gatehouse-error.js";
import { isIP } from "node:net";
import { parseDuration } from "../util/duration.js";
import type { Duration } from "../util/duration.js";

/** How host names in CONNECT requests are resolved, as configured (`dns:`; snake_case). */
export interface DnsOptions {
  /**
   * Name servers, each `IP` or `IP:port` (IPv6 as `::1` or `[::1]:53`), asked in order.
   * Default: the `nameserver` lines of /etc/resolv.conf.
   */
  readonly servers?: readonly string[];
  /** How long one try waits for an answer. Default 2s. */
  readonly timeout?: Duration;
  /** Tries per query; a lookup fails after timeout × tries at the latest. Default 2. */
  readonly tries?: number;
  /** The longest an answer is reused; an answer's own shorter TTL wins. 0 = no cache. Default 60s. */
  readonly cache_ttl?: Duration;
  /** How long "no such name" / "no address" is remembered. 0 = not at all. Default 5s. */
  readonly negative_cache_ttl?: Duration;
  /**
   * Lookups one identity (or, before authentication, one client IP) may have waiting on the
   * servers at once; the next one is refused at once. Default 8.
   */
  readonly max_in_flight_per_identity?: number;
  /** Answered before any server is asked, re-read when it changes. Default /etc/hosts. */
  readonly hosts_file?: string;
}

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

/** Invalid DNS options; `problems` names every bad value with its config path. */
export class DnsConfigError extends GatehouseError {
  constructor(problems: readonly string[]) {
    super("GH_CONFIG_DNS_INVALID", problems);
    this.name = "DnsConfigError";
  }
}

/** The message for a `timeout` outside DNS_LIMITS (shared with the server's config schema). */
export const DNS_TIMEOUT_RANGE = `must be between 1ms and ${String(DNS_LIMITS.maxTimeoutMs / 1000)}s`;

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  "servers",
  "timeout",
  "tries",
  "cache_ttl",
  "negative_cache_ttl",
  "max_in_flight_per_identity",
  "hosts_file",
]);

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
export function resolveDnsOptions(options: DnsOptions = {}, path = "dns"): ResolvedDnsOptions {
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) problems.push(`${path}.${key}: unknown option`);
  }
  const servers = options.servers;
  if (servers !== undefined) {
    if (!Array.isArray(servers) || servers.length === 0) {
      problems.push(`${path}.servers: give at least one server, or leave it out to use /etc/resolv.conf's`);
    } else {
      servers.forEach((server, index) => {
        if (typeof server !== "string" || parseDnsServer(server) === undefined) {
          problems.push(
            `${path}.servers[${String(index)}]: expected an IP address with an optional port (1.1.1.1, 1.1.1.1:53, [::1]:53), got ${JSON.stringify(server)}`,
          );
        }
      });
    }
  }
  const ms = (key: string, value: Duration | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    try {
      return parseDuration(value);
    } catch (error) {
      problems.push(`${path}.${key}: ${(error as Error).message}`);
      return fallback;
    }
  };
  const timeoutMs = ms("timeout", options.timeout, DNS_DEFAULTS.timeoutMs);
  if (timeoutMs < 1 || timeoutMs > DNS_LIMITS.maxTimeoutMs) problems.push(`${path}.timeout: ${DNS_TIMEOUT_RANGE}`);
  const tries = options.tries ?? DNS_DEFAULTS.tries;
  if (!Number.isInteger(tries) || tries < 1 || tries > DNS_LIMITS.maxTries) {
    problems.push(`${path}.tries: must be a whole number from 1 to ${String(DNS_LIMITS.maxTries)}`);
  }
  const cacheTtlMs = ms("cache_ttl", options.cache_ttl, DNS_DEFAULTS.cacheTtlMs);
  const negativeCacheTtlMs = ms("negative_cache_ttl", options.negative_cache_ttl, DNS_DEFAULTS.negativeCacheTtlMs);
  const maxInFlight = options.max_in_flight_per_identity ?? DNS_DEFAULTS.maxInFlightPerIdentity;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    problems.push(`${path}.max_in_flight_per_identity: must be a whole number of at least 1`);
  }
  if (options.hosts_file !== undefined && (typeof options.hosts_file !== "string" || options.hosts_file === "")) {
    problems.push(`${path}.hosts_file: must be a file path`);
  }
  if (problems.length > 0) throw new DnsConfigError(problems);
  return {
    servers,
    timeoutMs,
    tries,
    cacheTtlMs,
    negativeCacheTtlMs,
    maxInFlightPerIdentity: maxInFlight,
    hostsFile: options.hosts_file ?? DNS_DEFAULTS.hostsFile,
    hostsFileRequired: options.hosts_file !== undefined,
  };
}
