import { GatehouseError } from "../errors/gatehouse-error.js";
import { isIP } from "node:net";
import { parseDuration } from "../util/duration.js";
import type { Duration } from "../util/duration.js";
import { z } from "zod";
import { durationAtLeast, durationOr, flag, isBoolean, isFalse, nonEmptyList, parsedString } from "../config/fields.js";
import { formatIssues } from "../config/issues.js";
import { listenerPolicySchema } from "../policy/options.js";
import { parseCidr } from "../policy/cidr.js";
import type { CidrRange } from "../policy/cidr.js";
import type { ProxyProtocolVersion } from "../protocol/proxy-header.js";

/** `host:port`; IPv6 as `[::1]:1080`. */
export const hostPort = z
  .string({
    // undefined keeps zod's own message for a missing key, which issues.ts reports as "required".
    error: (issue) =>
      issue.input === undefined ? undefined : "expected host:port such as 127.0.0.1:1080 or [::1]:1080",
  })
  .superRefine((value, ctx) => {
    if (parseHostPort(value) === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `expected host:port such as 127.0.0.1:1080 or [::1]:1080, got ${JSON.stringify(value)}`,
      });
    }
  });

/**
 * PROXY protocol (HAProxy's v1/v2 header) in front of every connection: which versions are
 * accepted and which balancer addresses may send one. Every connection to such a listener must
 * come from a trusted address and start with a header.
 */
const proxyProtocolSchema = z.strictObject({
  /** Default: both. */
  versions: nonEmptyList(z.literal([1, 2], { error: "expected 1 or 2" }))
    .refine((versions) => new Set(versions).size === versions.length, "a version is listed twice")
    .optional(),
  /** The balancers' addresses or networks (`10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`). */
  trusted: nonEmptyList(parsedString(parseCidr), "expected a non-empty list of addresses or CIDRs"),
});

/**
 * UDP ASSOCIATE on this listener (RFC 1928 §7). Off unless `enabled: true`: the command is
 * then answered 07, as KumoMTA does.
 */
const udpSchema = z.strictObject({
  enabled: z.boolean({
    error: (issue) => (issue.input === undefined ? "required (true serves UDP ASSOCIATE)" : "expected true or false"),
  }),
  /** The address the relay sockets bind to and the reply names; default: the listener's. */
  address: parsedString(parseUdpAddress).optional(),
  /** Client-facing relay ports, `40000-40999` or one port; default: any free port the system picks. */
  ports: parsedString(parsePortRange).optional(),
  /** Close an association with no datagram either way for this long; false = only with its TCP connection. Default 5m. */
  idle_timeout: durationOr(isFalse, "false").optional(),
  /** Datagrams of one association waiting on a lookup or a send; more are dropped (in_flight_limit). Default 64. */
  max_in_flight: z
    .number()
    .int("expected a whole number of datagrams")
    .positive("expected 1 or more")
    .max(65536, "expected at most 65536")
    .optional(),
});

/** A timeout that cannot be off. */
const timeout = durationAtLeast(1, "must be greater than zero");

/**
 * Listener options as written in config (snake_case, KumoMTA's names where they exist): the
 * one definition of the keys, used by createProxyServer and composed into the server's config
 * file schema. A new option is added here (and applied in resolveListenerOptions).
 */
export const listenerOptionsSchema = z
  .strictObject({
    listen: hostPort,
    /** Shown in logs; defaults to the listen address. */
    name: z.string().min(1).optional(),
    require_auth: flag.optional(),
    /** Each negotiation step (greeting, credentials, request). Default 60s. */
    timeout: timeout.optional(),
    /** The whole handshake, from accept to the CONNECT reply. Default 2 × timeout. */
    handshake_timeout: timeout.optional(),
    /** Dialling the destination. Default 10s. */
    connect_timeout: timeout.optional(),
    /** Close a tunnel with no traffic in either direction for this long. Off by default. */
    idle_timeout: durationOr(isFalse, "false").optional(),
    /** After one side half-closes, close when the other direction is quiet this long. Default 60s. */
    fin_wait_timeout: timeout.optional(),
    /** TCP keepalive idle time on both legs, or false. Default 5m. */
    tcp_keepalive: durationOr(isBoolean, "true/false").optional(),
    /**
     * This listener's own cap on open client connections. Default: none of its own; it shares
     * the connection budget derived from the fd limit (see fd-budget.ts) with the other listeners.
     */
    max_connections: z
      .number()
      .int("expected a whole number of connections")
      .positive("expected 1 or more (leave it out to share the fd budget)")
      .optional(),
    /**
     * Connections from one client IP that have not finished authenticating; at the limit the
     * oldest one waiting on its client is closed to make room. Default 256 (clients behind a
     * NAT share an address); 0 = no limit.
     */
    max_unauthenticated_per_ip: z
      .number()
      .int("expected a whole number of connections (0 = no limit)")
      .nonnegative("expected 0 (no limit) or more")
      .optional(),
    use_tls: flag.optional(),
    /** PEM file; when use_tls is set without it, a self-signed certificate is generated. */
    tls_certificate: z.string().min(1).optional(),
    tls_private_key: z.string().min(1).optional(),
    proxy_protocol: proxyProtocolSchema.optional(),
    udp: udpSchema.optional(),
    /** This listener's rules, evaluated before the top-level policy's (compiled with it, see policy/compile.ts). */
    policy: listenerPolicySchema.optional(),
  })
  .superRefine((options, ctx) => {
    const hasCertificate = options.tls_certificate !== undefined;
    const hasKey = options.tls_private_key !== undefined;
    if (options.use_tls !== true && (hasCertificate || hasKey)) {
      ctx.addIssue({ code: "custom", message: "tls_certificate/tls_private_key need use_tls: true" });
    }
    if (options.udp?.enabled === true && options.udp.address === undefined) {
      const host = parseHostPort(options.listen)?.host;
      if (host !== undefined && isIP(host) === 0) {
        ctx.addIssue({
          code: "custom",
          path: ["udp", "address"],
          message: `required when listen names a host (${host}): the relay binds to an IP address`,
        });
      }
    }
    if (hasCertificate !== hasKey) {
      ctx.addIssue({ code: "custom", message: "tls_certificate and tls_private_key go together" });
    }
  });

/** One listener's options as written in config (see listenerOptionsSchema). */
export type ListenerOptions = z.input<typeof listenerOptionsSchema>;

/** Sized for clients behind a NAT (one address, many users), far below any fd limit worth running with. */
export const DEFAULT_MAX_UNAUTHENTICATED_PER_IP = 256;

/** A listener's options with defaults applied and durations in milliseconds. */
export interface ResolvedListenerOptions {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly requireAuth: boolean;
  readonly stepTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly finWaitTimeoutMs: number;
  /** 0 = off. */
  readonly keepAliveMs: number;
  /** 0 = none of its own (the shared budget applies). */
  readonly maxConnections: number;
  /** 0 = no limit. */
  readonly maxUnauthenticatedPerIp: number;
  readonly tls: { readonly certificateFile?: string; readonly privateKeyFile?: string } | undefined;
  /** Set: every connection must come from `trusted` and start with a PROXY header of `versions`. */
  readonly proxyProtocol: ResolvedProxyProtocol | undefined;
  /** Set: UDP ASSOCIATE is served; undefined: it is answered 07. */
  readonly udp: ResolvedUdpOptions | undefined;
}

/** A listener's `udp:` with defaults applied. */
export interface ResolvedUdpOptions {
  /** The address the relay sockets bind to (the listener's when not given). */
  readonly address: string;
  /** Inclusive; 0–0 = any port the system picks. */
  readonly portLow: number;
  readonly portHigh: number;
  /** 0 = no idle bound. */
  readonly idleTimeoutMs: number;
  readonly maxInFlight: number;
}

/** Default `udp.idle_timeout`: NAT bindings and resolvers give up on a quiet UDP flow within minutes too. */
const DEFAULT_UDP_IDLE_TIMEOUT_MS = 300_000;
const DEFAULT_UDP_MAX_IN_FLIGHT = 64;

/** `udp.address`: an IP address (the relay binds to it, so no host name). */
function parseUdpAddress(text: string): string {
  if (isIP(text) === 0)
    throw new RangeError(`expected an IP address such as 127.0.0.1 or ::1, got ${JSON.stringify(text)}`);
  return text;
}

/** `udp.ports`: `LOW-HIGH` (1..65535, LOW ≤ HIGH) or one port. */
export function parsePortRange(text: string): { low: number; high: number } {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  if (match === null) {
    throw new RangeError(`expected a port range such as "40000-40999" (or one port), got ${JSON.stringify(text)}`);
  }
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (low < 1 || high > 65535) throw new RangeError(`ports must be 1 to 65535, got ${JSON.stringify(text)}`);
  if (low > high) throw new RangeError(`the range's first port is above its last: ${JSON.stringify(text)}`);
  return { low, high };
}

/** A listener's `proxy_protocol`, with its CIDRs parsed. */
export interface ResolvedProxyProtocol {
  /** Sorted; an array (not a Set) so that a reload compares it (server.ts keys listeners by JSON). */
  readonly versions: readonly ProxyProtocolVersion[];
  readonly trusted: readonly CidrRange[];
}

/** Invalid listener options; `problems` names every bad value with its config path. */
export class ListenerConfigError extends GatehouseError {
  constructor(problems: readonly string[]) {
    super("GH_CONFIG_LISTENER_INVALID", problems);
    this.name = "ListenerConfigError";
  }
}

/** Splits `host:port` / `[v6]:port`; returns undefined when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}

/** Validates programmatic or config input; every problem names its path (`listeners[0].timeout`). */
export function resolveListenerOptions(input: ListenerOptions, path: string): ResolvedListenerOptions {
  const result = listenerOptionsSchema.safeParse(input);
  if (!result.success) throw new ListenerConfigError(formatIssues(result.error.issues, path));
  const options = result.data;
  const address = parseHostPort(options.listen)!;
  const ms = (value: Duration | undefined, fallback: number): number =>
    value === undefined ? fallback : parseDuration(value);
  const stepTimeoutMs = ms(options.timeout, 60_000);
  let keepAliveMs = 300_000;
  if (options.tcp_keepalive === false) keepAliveMs = 0;
  else if (options.tcp_keepalive !== undefined && options.tcp_keepalive !== true)
    keepAliveMs = parseDuration(options.tcp_keepalive);
  return {
    name: options.name ?? options.listen,
    host: address.host,
    port: address.port,
    requireAuth: options.require_auth ?? false,
    stepTimeoutMs,
    handshakeTimeoutMs: ms(options.handshake_timeout, 2 * stepTimeoutMs),
    connectTimeoutMs: ms(options.connect_timeout, 10_000),
    idleTimeoutMs: options.idle_timeout === false ? 0 : ms(options.idle_timeout, 0),
    finWaitTimeoutMs: ms(options.fin_wait_timeout, 60_000),
    keepAliveMs,
    maxConnections: options.max_connections ?? 0,
    maxUnauthenticatedPerIp: options.max_unauthenticated_per_ip ?? DEFAULT_MAX_UNAUTHENTICATED_PER_IP,
    proxyProtocol:
      options.proxy_protocol === undefined
        ? undefined
        : {
            versions: [...(options.proxy_protocol.versions ?? [1, 2])].sort(),
            trusted: options.proxy_protocol.trusted.map(parseCidr),
          },
    udp: resolveUdp(options.udp, address.host),
    tls: options.use_tls
      ? {
          ...(options.tls_certificate !== undefined && { certificateFile: options.tls_certificate }),
          ...(options.tls_private_key !== undefined && { privateKeyFile: options.tls_private_key }),
        }
      : undefined,
  };
}

function resolveUdp(udp: z.output<typeof udpSchema> | undefined, listenerHost: string): ResolvedUdpOptions | undefined {
  if (udp?.enabled !== true) return undefined;
  const range = udp.ports === undefined ? { low: 0, high: 0 } : parsePortRange(udp.ports);
  let idleTimeoutMs = DEFAULT_UDP_IDLE_TIMEOUT_MS;
  if (udp.idle_timeout === false) idleTimeoutMs = 0;
  else if (udp.idle_timeout !== undefined) idleTimeoutMs = parseDuration(udp.idle_timeout);
  return {
    address: udp.address ?? listenerHost,
    portLow: range.low,
    portHigh: range.high,
    idleTimeoutMs,
    maxInFlight: udp.max_in_flight ?? DEFAULT_UDP_MAX_IN_FLIGHT,
  };
}
