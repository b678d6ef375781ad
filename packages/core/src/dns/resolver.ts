import type { LookupAddress } from "node:dns";
import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { abortReason, untilAborted } from "../util/abort.js";
import { DnsCache } from "./cache.js";
import type { DnsAnswer } from "./cache.js";
import { DnsLookupError } from "./errors.js";
import type { DnsErrorCode } from "./errors.js";
import { HostsFile } from "./hosts-file.js";
import { InFlightCap } from "./in-flight-cap.js";
import { canonicalName } from "./name.js";
import { DnsConfigError, resolveDnsOptions } from "./options.js";
import type { DnsOptions, ResolvedDnsOptions } from "./options.js";

/** One lookup's caller: its abort signal and whose in-flight share it counts against. */
export interface DnsLookupOptions {
  /** Aborting stops waiting (the query itself runs on to its deadline, still counted). */
  readonly signal?: AbortSignal;
  /** Whose lookup this is, for max_in_flight_per_identity; none = not capped. */
  readonly key?: string;
}

export interface DnsResolverInternals {
  /** The clock of the caches and of the hosts file's change check. */
  readonly now?: () => number;
  readonly hostsCheckIntervalMs?: number;
}

const LOOPBACK: LookupAddress = { address: "127.0.0.1", family: 4 };

/**
 * Resolves host names without the libuv threadpool (c-ares sockets, not getaddrinfo), so a
 * name whose servers never answer holds only its own callers:
 * 1. an IP address is itself;
 * 2. the hosts file, then `localhost` / `*.localhost` as loopback (RFC 6761), never asked of a server;
 * 3. the cache (positive answers up to min(TTL, cache_ttl), negative ones negative_cache_ttl);
 * 4. the servers, at most max_in_flight_per_identity lookups per key waiting at once, identical
 *    names sharing one query, each lookup over after timeout × tries.
 * Family order is fixed: the first IPv4 address (A, or the hosts file's first IPv4 entry);
 * an IPv6 one (AAAA) only when the name has no IPv4 address.
 */
export class DnsResolver {
  readonly options: ResolvedDnsOptions;
  private readonly hosts: HostsFile;
  private readonly cache = new DnsCache();
  private readonly cap: InFlightCap;
  private readonly servers: Resolver;
  private readonly pending = new Map<string, Promise<DnsAnswer>>();
  private readonly now: () => number;

  constructor(options: DnsOptions | ResolvedDnsOptions = {}, internals: DnsResolverInternals = {}) {
    this.options = "timeoutMs" in options ? options : resolveDnsOptions(options);
    this.now = internals.now ?? Date.now;
    try {
      this.hosts = new HostsFile(this.options.hostsFile, {
        required: this.options.hostsFileRequired,
        now: this.now,
        ...(internals.hostsCheckIntervalMs !== undefined && { checkIntervalMs: internals.hostsCheckIntervalMs }),
      });
    } catch (error) {
      throw new DnsConfigError([`dns.hosts_file: ${(error as Error).message}`]);
    }
    this.cap = new InFlightCap(this.options.maxInFlightPerIdentity);
    this.servers = new Resolver({ timeout: this.options.timeoutMs, tries: this.options.tries });
    if (this.options.servers !== undefined) this.servers.setServers([...this.options.servers]);
  }

  /** The address to dial for `host`, or a DnsLookupError (or the signal's reason, when aborted). */
  readonly lookup = async (host: string, options: DnsLookupOptions = {}): Promise<LookupAddress> => {
    const family = isIP(host);
    if (family !== 0) return { address: host, family };
    const name = canonicalName(host);
    const local = this.fromHostsFile(name);
    if (local !== undefined) return local;
    const cached = this.cache.get(name, this.now());
    if (cached !== undefined) return unwrap(cached, name);
    if (options.signal?.aborted === true) throw abortReason(options.signal);
    const release = options.key === undefined ? () => undefined : this.cap.tryAcquire(options.key);
    if (release === undefined) {
      throw new DnsLookupError("ELOOKUPLIMIT", name, "too many lookups in flight for this client");
    }
    const answer = this.sharedQuery(name);
    void answer.finally(release);
    return unwrap(await untilAborted(answer, options.signal), name);
  };

  /** Lookups `key` has waiting on the servers now. */
  inFlight(key: string): number {
    return this.cap.inFlight(key);
  }

  /** Ends every query still waiting on the servers (their callers get ESERVFAIL). */
  close(): void {
    this.servers.cancel();
  }

  private fromHostsFile(name: string): LookupAddress | undefined {
    const entry = this.hosts.lookup(name);
    const ipv4 = entry?.ipv4[0];
    if (ipv4 !== undefined) return { address: ipv4, family: 4 };
    const ipv6 = entry?.ipv6[0];
    if (ipv6 !== undefined) return { address: ipv6, family: 6 };
    if (name === "localhost" || name.endsWith(".localhost")) return LOOPBACK;
    return undefined;
  }

  private sharedQuery(name: string): Promise<DnsAnswer> {
    const running = this.pending.get(name);
    if (running !== undefined) return running;
    const query = this.query(name).then(({ answer, ttlMs }) => {
      this.pending.delete(name);
      this.cache.set(name, answer, ttlMs, this.now());
      return answer;
    });
    this.pending.set(name, query);
    return query;
  }

  /** A then (only if the name has no A record) AAAA, all within timeout × tries. Never rejects. */
  private async query(name: string): Promise<{ answer: DnsAnswer; ttlMs: number }> {
    const { timeoutMs, tries, cacheTtlMs, negativeCacheTtlMs } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs * tries);
    });
    const work = (async () => {
      const ipv4 = await this.ask(name, 4);
      if (ipv4 !== "ENODATA") return ipv4;
      return this.ask(name, 6);
    })();
    try {
      const result = await Promise.race([work, deadline]);
      if (result === "timeout") return { answer: { ok: false, code: "ETIMEOUT" }, ttlMs: 0 };
      if (typeof result === "string") {
        const negative = result === "ENOTFOUND" || result === "ENODATA";
        return { answer: { ok: false, code: result }, ttlMs: negative ? negativeCacheTtlMs : 0 };
      }
      return { answer: { ok: true, address: result.address }, ttlMs: Math.min(result.ttlSeconds * 1000, cacheTtlMs) };
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
    }
  }

  /** One query type: the first address with the record set's lowest TTL, or why there is none. */
  private async ask(
    name: string,
    family: 4 | 6,
  ): Promise<{ address: LookupAddress; ttlSeconds: number } | Exclude<DnsErrorCode, "ELOOKUPLIMIT">> {
    try {
      const records =
        family === 4
          ? await this.servers.resolve4(name, { ttl: true })
          : await this.servers.resolve6(name, { ttl: true });
      const first = records[0];
      if (first === undefined) return "ENODATA";
      return {
        address: { address: first.address, family },
        ttlSeconds: Math.min(...records.map((record) => record.ttl)),
      };
    } catch (error) {
      return errorCode(error);
    }
  }
}

/** c-ares's codes folded into the few a session needs to tell apart. */
function errorCode(error: unknown): "ENOTFOUND" | "ENODATA" | "ETIMEOUT" | "ESERVFAIL" {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case "ENOTFOUND":
      return "ENOTFOUND";
    case "ENODATA":
      return "ENODATA";
    case "ETIMEOUT":
      return "ETIMEOUT";
    default:
      return "ESERVFAIL";
  }
}

function unwrap(answer: DnsAnswer, name: string): LookupAddress {
  if (answer.ok) return answer.address;
  throw new DnsLookupError(answer.code, name);
}
