import { GatehouseError } from "../errors/gatehouse-error.js";
import { isIP } from "node:net";
import { parseDuration } from "../util/duration.js";
import type { Duration } from "../util/duration.js";
import type { ListenerPolicyOptions } from "../policy/options.js";

/** Listener options as written in config (snake_case, KumoMTA's names where they exist). */
export interface ListenerOptions {
  /** `host:port`; IPv6 as `[::1]:1080`. */
  readonly listen: string;
  /** Shown in logs; defaults to the listen address. */
  readonly name?: string;
  readonly require_auth?: boolean;
  /** Each negotiation step (greeting, credentials, request). Default 60s. */
  readonly timeout?: Duration;
  /** The whole handshake, from accept to the CONNECT reply. Default 2 × timeout. */
  readonly handshake_timeout?: Duration;
  /** Dialling the destination. Default 10s. */
  readonly connect_timeout?: Duration;
  /** Close a tunnel with no traffic in either direction for this long. Off by default. */
  readonly idle_timeout?: Duration | false;
  /** After one side half-closes, close when the other direction is quiet this long. Default 60s. */
  readonly fin_wait_timeout?: Duration;
  /** TCP keepalive idle time on both legs, or false. Default 5m. */
  readonly tcp_keepalive?: Duration | boolean;
  /**
   * This listener's own cap on open client connections. Default: none of its own; it shares
   * the connection budget derived from the fd limit (see fd-budget.ts) with the other listeners.
   */
  readonly max_connections?: number;
  /**
   * Connections from one client IP that have not finished authenticating; at the limit the
   * oldest one waiting on its client is closed to make room. Default 256 (clients behind a
   * NAT share an address); 0 = no limit.
   */
  readonly max_unauthenticated_per_ip?: number;
  readonly use_tls?: boolean;
  /** PEM file; when use_tls is set without it, a self-signed certificate is generated. */
  readonly tls_certificate?: string;
  readonly tls_private_key?: string;
  /** This listener's rules, evaluated before the top-level policy's (compiled by the server, not here). */
  readonly policy?: ListenerPolicyOptions;
}

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
}

/** Invalid listener options; `problems` names every bad value with its config path. */
export class ListenerConfigError extends GatehouseError {
  constructor(problems: readonly string[]) {
    super("GH_CONFIG_LISTENER_INVALID", problems);
    this.name = "ListenerConfigError";
  }
}

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  "listen",
  "name",
  "require_auth",
  "timeout",
  "handshake_timeout",
  "connect_timeout",
  "idle_timeout",
  "fin_wait_timeout",
  "tcp_keepalive",
  "max_connections",
  "max_unauthenticated_per_ip",
  "use_tls",
  "tls_certificate",
  "tls_private_key",
  "policy",
]);

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
export function resolveListenerOptions(options: ListenerOptions, path: string): ResolvedListenerOptions {
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) problems.push(`${path}.${key}: unknown option`);
  }
  const address = typeof options.listen === "string" ? parseHostPort(options.listen) : undefined;
  if (!address) problems.push(`${path}.listen: expected host:port such as 127.0.0.1:1080 or [::1]:1080`);

  const duration = (key: keyof ListenerOptions, fallback: number): number => {
    const value = options[key];
    if (value === undefined) return fallback;
    try {
      return parseDuration(value as Duration);
    } catch (error) {
      problems.push(`${path}.${key}: ${(error as Error).message}`);
      return fallback;
    }
  };
  const stepTimeoutMs = duration("timeout", 60_000);
  const handshakeTimeoutMs = duration("handshake_timeout", 2 * stepTimeoutMs);
  const connectTimeoutMs = duration("connect_timeout", 10_000);
  const idleTimeoutMs = options.idle_timeout === false ? 0 : duration("idle_timeout", 0);
  const finWaitTimeoutMs = duration("fin_wait_timeout", 60_000);
  let keepAliveMs = 300_000;
  if (options.tcp_keepalive === false) keepAliveMs = 0;
  else if (options.tcp_keepalive !== undefined && options.tcp_keepalive !== true)
    keepAliveMs = duration("tcp_keepalive", 300_000);

  for (const [key, value] of [
    ["timeout", stepTimeoutMs],
    ["handshake_timeout", handshakeTimeoutMs],
    ["connect_timeout", connectTimeoutMs],
    ["fin_wait_timeout", finWaitTimeoutMs],
  ] as const) {
    if (value === 0) problems.push(`${path}.${key}: must be greater than zero`);
  }
  const maxConnections = options.max_connections ?? 0;
  if (!Number.isInteger(maxConnections) || maxConnections < 0) {
    problems.push(`${path}.max_connections: expected a non-negative integer`);
  }
  const maxUnauthenticatedPerIp = options.max_unauthenticated_per_ip ?? DEFAULT_MAX_UNAUTHENTICATED_PER_IP;
  if (!Number.isInteger(maxUnauthenticatedPerIp) || maxUnauthenticatedPerIp < 0) {
    problems.push(`${path}.max_unauthenticated_per_ip: expected a non-negative integer (0 = no limit)`);
  }
  for (const key of ["require_auth", "use_tls"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "boolean")
      problems.push(`${path}.${key}: expected true or false`);
  }
  if (!options.use_tls && (options.tls_certificate !== undefined || options.tls_private_key !== undefined)) {
    problems.push(`${path}: tls_certificate/tls_private_key need use_tls: true`);
  }
  if ((options.tls_certificate === undefined) !== (options.tls_private_key === undefined)) {
    problems.push(`${path}: tls_certificate and tls_private_key go together`);
  }
  if (problems.length > 0) throw new ListenerConfigError(problems);
  return {
    name: options.name ?? options.listen,
    host: address!.host,
    port: address!.port,
    requireAuth: options.require_auth ?? false,
    stepTimeoutMs,
    handshakeTimeoutMs,
    connectTimeoutMs,
    idleTimeoutMs,
    finWaitTimeoutMs,
    keepAliveMs,
    maxConnections,
    maxUnauthenticatedPerIp,
    tls: options.use_tls
      ? {
          ...(options.tls_certificate !== undefined && { certificateFile: options.tls_certificate }),
          ...(options.tls_private_key !== undefined && { privateKeyFile: options.tls_private_key }),
        }
      : undefined,
  };
}
