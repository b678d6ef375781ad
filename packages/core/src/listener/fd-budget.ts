import { readFileSync } from "node:fs";

/** Each tunnel holds two descriptors: the client's socket and the destination's. */
export const FDS_PER_CONNECTION = 2;
/**
 * Descriptors kept back from client connections for everything else the process opens: its
 * own baseline (about 20: stdio, epoll, the listeners), the admin listener and its scrapes,
 * log files, DNS sockets, provider backends (LDAP, Redis, webhooks) and dials in flight.
 */
export const FD_RESERVE_FRACTION = 1 / 8;
/** The reserve never falls below this (small fd limits still leave room for the admin listener and logs). */
export const FD_RESERVE_MIN = 64;
/** Nor grows beyond this: large fd limits give their descriptors to connections. */
export const FD_RESERVE_MAX = 4096;
/** Assumed when /proc/self/limits cannot be read: the usual Linux default soft limit. */
export const FALLBACK_SOFT_FD_LIMIT = 1024;

/** The process's soft RLIMIT_NOFILE and where it came from. */
export interface SoftFdLimit {
  /** `unlimited` when the kernel reports no limit. */
  readonly limit: number | "unlimited";
  /** `option`: given by the embedder (ProxyServerOptions.softFdLimit). */
  readonly source: "proc" | "fallback" | "option";
}

/** The connection budget derived from a soft fd limit. */
export interface FdBudget extends SoftFdLimit {
  /** Descriptors kept back for the admin listener, logs, DNS, providers and dials. */
  readonly reserve: number;
  /** Client connections all listeners may hold at once; 0 = no limit (unlimited fds). */
  readonly maxConnections: number;
}

/** The soft limit from the text of /proc/self/limits (`Max open files  1024  4096  files`). */
export function parseSoftFdLimit(limitsText: string): number | "unlimited" | undefined {
  const match = /^Max open files\s+(\S+)\s+\S+\s+files\s*$/m.exec(limitsText);
  if (!match) return undefined;
  if (match[1] === "unlimited") return "unlimited";
  const limit = Number(match[1]);
  return Number.isSafeInteger(limit) && limit > 0 ? limit : undefined;
}

/** Reads the soft fd limit (Node has no getrlimit); falls back to FALLBACK_SOFT_FD_LIMIT. */
export function readSoftFdLimit(read: () => string = () => readFileSync("/proc/self/limits", "utf8")): SoftFdLimit {
  let parsed: number | "unlimited" | undefined;
  try {
    parsed = parseSoftFdLimit(read());
  } catch {
    parsed = undefined;
  }
  return parsed === undefined
    ? { limit: FALLBACK_SOFT_FD_LIMIT, source: "fallback" }
    : { limit: parsed, source: "proc" };
}

/**
 * reserve = clamp(floor(limit / 8), 64, 4096); maxConnections = floor((limit − reserve) / 2),
 * at least 1. With 1024 fds: reserve 128, 448 connections; with 65 536: 4096 and 30 720.
 */
export function fdBudget(soft: SoftFdLimit): FdBudget {
  if (soft.limit === "unlimited") return { ...soft, reserve: 0, maxConnections: 0 };
  const reserve = Math.min(FD_RESERVE_MAX, Math.max(FD_RESERVE_MIN, Math.floor(soft.limit * FD_RESERVE_FRACTION)));
  const maxConnections = Math.max(1, Math.floor((soft.limit - reserve) / FDS_PER_CONNECTION));
  return { ...soft, reserve, maxConnections };
}
