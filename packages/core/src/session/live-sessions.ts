import type { UdpSessionRecord } from "./context.js";
import { unmapIPv4 } from "../protocol/serialize.js";

/** What the operator's view shows of one live session (`GET /api/sessions`). */
export interface LiveSession {
  /** Unique in this process for its lifetime, ascending in the order sessions were accepted. */
  readonly id: number;
  readonly listener: string;
  /** The client's `ip:port`. */
  readonly peer: string;
  readonly identity: string | undefined;
  readonly groups: readonly string[];
  /** The provider that allowed the login; undefined on a listener without authentication. */
  readonly provider: string | undefined;
  readonly command: string | undefined;
  /** The host name the client asked for; undefined when it asked for an IP address. */
  readonly destinationName: string | undefined;
  /** The `ip:port` dialled (known once resolved). */
  readonly destinationAddress: string | undefined;
  readonly destinationPort: number | undefined;
  readonly bytesClientToDest: number;
  readonly bytesDestToClient: number;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  /**
   * Epoch milliseconds: the first listing that saw the byte counts changed (listings compare
   * with the counts of the previous one, so the precision is the interval between listings),
   * else the tunnel's start.
   */
  readonly lastActivityAt: number;
  readonly relay: "js" | "splice" | "udp" | undefined;
  /** A UDP association's relay endpoint, datagram counts and drops (its bytes are the counts above). */
  readonly udp?: UdpSessionRecord;
}

/** Which live sessions a listing or a close is about; every given field must match. */
export interface SessionFilter {
  /** Any identity the session authenticated as. */
  readonly identity?: string;
  readonly group?: string;
  /** The client's IP (`127.0.0.1`, `::1`) or its exact `ip:port`. */
  readonly peer?: string;
  /** The requested host name or the dialled IP, with or without `:port` (names case-insensitive). */
  readonly destination?: string;
}

/** A listing: the filter, a page size, and where the previous page ended. */
export interface SessionQuery extends SessionFilter {
  /** At most this many sessions (1..1000). */
  readonly limit: number;
  /** Only sessions with a greater id: the `id` of the last session of the previous page. */
  readonly after?: number;
}

/** One page of a listing. */
export interface SessionPage {
  readonly sessions: LiveSession[];
  /** Sessions matching the filter, on every page. */
  readonly total: number;
  /** Matching sessions remain after this page. */
  readonly more: boolean;
}

/** Which sessions to close: one by id, or every session of an identity or of a client IP. */
export type SessionSelector = { readonly id: number } | { readonly identity: string } | { readonly peer: string };

/** What the registry needs of a session (implemented by Session). */
export interface ListableSession {
  /** Past the anonymous part of the handshake (authenticated or a request made) and not ending. */
  readonly listed: boolean;
  readonly peer: string;
  readonly clientIp: string;
  readonly groups: readonly string[];
  readonly destinationName: string | undefined;
  /** The dialled IP, without the port. */
  readonly destinationHost: string | undefined;
  readonly destinationPort: number | undefined;
  authenticatedAs(identity: string): boolean;
  /** The session as listed; `now` is the engine clock's, `toEpoch` converts its times. */
  describe(id: number, now: number, toEpoch: (time: number) => number): LiveSession;
  destroy(reason: string): void;
}

/** The largest page a listing returns. */
export const MAX_SESSION_PAGE = 1000;

/**
 * Every live session of a server, by id, in the order they were accepted (a Map iterates in
 * insertion order, so pages come out sorted without sorting). A listing is one pass over the
 * sessions comparing a few strings per filter, and builds objects only for the page it returns.
 */
export class LiveSessions {
  private readonly sessions = new Map<number, ListableSession>();
  private nextId = 1;

  constructor(
    /** The engine clock (the sessions' times are on it). */
    private readonly now: () => number,
    private readonly wallClock: () => number = Date.now,
  ) {}

  add(session: ListableSession): number {
    const id = this.nextId++;
    this.sessions.set(id, session);
    return id;
  }

  delete(id: number): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  list(query: SessionQuery): SessionPage {
    const matches = compileFilter(query);
    const limit = Math.max(1, Math.min(MAX_SESSION_PAGE, Math.floor(query.limit)));
    const after = query.after ?? 0;
    const now = this.now();
    const offset = this.wallClock() - now;
    const toEpoch = (time: number): number => time + offset;
    const sessions: LiveSession[] = [];
    let total = 0;
    for (const [id, session] of this.sessions) {
      if (!session.listed || !matches(session)) continue;
      total++;
      if (id > after && sessions.length < limit) sessions.push(session.describe(id, now, toEpoch));
    }
    const last = sessions.at(-1);
    const more = last !== undefined && sessions.length === limit && this.anyMatchAfter(last.id, matches);
    return { sessions, total, more };
  }

  /** Ends the selected listed sessions with `reason`; returns how many. */
  close(selector: SessionSelector, reason: string): number {
    const chosen: ListableSession[] = [];
    if ("id" in selector) {
      const session = this.sessions.get(selector.id);
      if (session?.listed === true) chosen.push(session);
    } else {
      const matches = compileFilter(selector);
      for (const session of this.sessions.values()) if (session.listed && matches(session)) chosen.push(session);
    }
    for (const session of chosen) session.destroy(reason);
    return chosen.length;
  }

  private anyMatchAfter(id: number, matches: (session: ListableSession) => boolean): boolean {
    let seen = false;
    for (const [candidate, session] of this.sessions) {
      if (!seen) {
        seen = candidate === id;
        continue;
      }
      if (session.listed && matches(session)) return true;
    }
    return false;
  }
}

/** One predicate for the filter's fields, with the values normalised once per listing. */
export function compileFilter(filter: SessionFilter): (session: ListableSession) => boolean {
  const checks: ((session: ListableSession) => boolean)[] = [];
  const { identity, group, peer, destination } = filter;
  if (identity !== undefined) checks.push((session) => session.authenticatedAs(identity));
  if (group !== undefined) checks.push((session) => session.groups.includes(group));
  if (peer !== undefined) {
    const ip = normalizeIp(peer);
    checks.push((session) => session.clientIp === ip || session.peer === peer);
  }
  if (destination !== undefined) {
    const wanted = destination.toLowerCase();
    const host = normalizeIp(wanted);
    checks.push((session) => {
      const port = session.destinationPort === undefined ? "" : `:${String(session.destinationPort)}`;
      const name = session.destinationName?.toLowerCase();
      const address = session.destinationHost;
      return (
        (name !== undefined && (name === wanted || `${name}${port}` === wanted)) ||
        (address !== undefined && (address === host || formatWithPort(address, port) === wanted))
      );
    });
  }
  return (session) => checks.every((check) => check(session));
}

function formatWithPort(address: string, port: string): string {
  return address.includes(":") ? `[${address}]${port}` : `${address}${port}`;
}

/** `[::1]` → `::1`, `::ffff:10.0.0.1` → `10.0.0.1`; anything else as given. */
function normalizeIp(text: string): string {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  return unmapIPv4(bare);
}
