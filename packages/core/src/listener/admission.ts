/**
 * Why admission control closed a connection: a listener's explicit `max_connections`, the
 * process-wide budget derived from the fd limit, or `max_unauthenticated_per_ip`.
 */
export type ShedReason = "max_connections" | "fd_reserve" | "unauthenticated_per_ip";

/** What admission control needs of a session that has not finished authenticating. */
export interface Admittable {
  /** The client's IP address (IPv4-mapped IPv6 unmapped). */
  readonly clientIp: string;
  /**
   * Waiting on the client (greeting, credentials, or a request before any login): may be
   * closed to make room. A session waiting on its auth provider or a dial is not.
   */
  readonly evictable: boolean;
  evict(reason: ShedReason): void;
}

/**
 * Sessions that have not finished authenticating, oldest first, and per client IP. A session
 * leaves when it authenticates, when its tunnel is up (no-auth listeners) or when it ends.
 */
export class UnauthenticatedSessions<T extends Admittable = Admittable> {
  private readonly all = new Set<T>();
  private readonly byIp = new Map<string, Set<T>>();

  get size(): number {
    return this.all.size;
  }

  add(session: T): void {
    this.all.add(session);
    let sessions = this.byIp.get(session.clientIp);
    if (sessions === undefined) {
      sessions = new Set();
      this.byIp.set(session.clientIp, sessions);
    }
    sessions.add(session);
  }

  /** Idempotent. */
  delete(session: T): void {
    if (!this.all.delete(session)) return;
    const sessions = this.byIp.get(session.clientIp);
    sessions?.delete(session);
    if (sessions?.size === 0) this.byIp.delete(session.clientIp);
  }

  count(ip: string): number {
    return this.byIp.get(ip)?.size ?? 0;
  }

  /** The session to close to make room: the oldest evictable one (from `ip` when given). */
  oldestEvictable(ip?: string): T | undefined {
    const sessions = ip === undefined ? this.all : this.byIp.get(ip);
    if (sessions === undefined) return undefined;
    for (const session of sessions) if (session.evictable) return session;
    return undefined;
  }
}

/** One stretch of time during which a connection limit was full. */
export interface LimitEpisode {
  readonly startedAt: number;
  /** New connections closed at once. */
  refused: number;
  /** Older unauthenticated connections closed to make room. */
  evicted: number;
}

/**
 * Tells when a connection limit becomes full and when it has room again, so each episode is
 * logged twice (reached, recovered), never once per connection. It recovers only when the
 * count falls to RECOVERY_FRACTION of the limit, so a count hovering at the limit is one episode.
 */
export class LimitEpisodes {
  static readonly RECOVERY_FRACTION = 0.9;
  private current: LimitEpisode | undefined;

  constructor(private readonly limit: number) {}

  get active(): LimitEpisode | undefined {
    return this.current;
  }

  /** Counts a connection shed at the limit; returns the episode when this one started it. */
  shed(kind: "refused" | "evicted", now: number): LimitEpisode | undefined {
    const started = this.current === undefined;
    this.current ??= { startedAt: now, refused: 0, evicted: 0 };
    this.current[kind]++;
    return started ? this.current : undefined;
  }

  /** After a connection closed; returns the episode when `open` connections mean it is over. */
  released(open: number): LimitEpisode | undefined {
    const episode = this.current;
    if (episode === undefined || open > Math.floor(this.limit * LimitEpisodes.RECOVERY_FRACTION)) return undefined;
    this.current = undefined;
    return episode;
  }
}

/**
 * Occurrences logged at most once per interval: the first at once, the rest summed into the
 * next line (due when the interval has passed; a caller's timer flushes the tail).
 */
export class RateLimitedCount {
  private lastLoggedAt = Number.NEGATIVE_INFINITY;
  private pending = 0;
  private readonly addresses = new Set<string>();

  constructor(private readonly intervalMs: number) {}

  /** Counts one occurrence from `address`; returns what to log now, if a line is due. */
  note(address: string, now: number): { count: number; addresses: string[] } | undefined {
    this.pending++;
    if (this.addresses.size < RateLimitedCount.MAX_ADDRESSES) this.addresses.add(address);
    return this.flush(now);
  }

  /** The occurrences not yet logged, if the interval has passed. */
  flush(now: number): { count: number; addresses: string[] } | undefined {
    if (this.pending === 0 || now - this.lastLoggedAt < this.intervalMs) return undefined;
    const line = { count: this.pending, addresses: [...this.addresses] };
    this.pending = 0;
    this.addresses.clear();
    this.lastLoggedAt = now;
    return line;
  }

  /** When the next line may be written, if occurrences are waiting; undefined when none are. */
  nextDueAt(): number | undefined {
    return this.pending === 0 ? undefined : this.lastLoggedAt + this.intervalMs;
  }

  /** A line names at most this many distinct client addresses. */
  static readonly MAX_ADDRESSES = 5;
}
