import type { Logger } from "../log.js";
import type { ProxyStats } from "../stats.js";
import { LimitEpisodes } from "./admission.js";
import type { UnauthenticatedSessions } from "./admission.js";

/** A ConnectionLimit's cap, what it counts and where it reports. */
export interface ConnectionLimitOptions {
  /** 0 = no limit. */
  readonly limit: number;
  readonly reason: "max_connections" | "fd_reserve";
  /** Connections open now under this limit. */
  readonly open: () => number;
  /** The sessions that may be closed to make room. */
  readonly unauthenticated: UnauthenticatedSessions;
  readonly stats: ProxyStats;
  readonly logger: Logger;
  /** Extra fields of the `connection_limit_reached` line (the fd limit and reserve, say). */
  readonly details?: Record<string, unknown>;
  readonly now?: () => number;
}

/**
 * A cap on open client connections. At the cap a new connection takes the place of the
 * oldest one still waiting on its client before authenticating (a silent client is the one
 * most likely idle: a real client finishes its handshake within a few round trips); when
 * there is none, the new connection is refused. Each episode at the cap is logged when it
 * starts and when it is over, and counted.
 */
export class ConnectionLimit {
  private readonly episodes: LimitEpisodes;
  private evicting = false;
  private readonly now: () => number;

  constructor(private readonly options: ConnectionLimitOptions) {
    this.episodes = new LimitEpisodes(options.limit);
    this.now = options.now ?? Date.now;
  }

  get limit(): number {
    return this.options.limit;
  }

  /** Room for one more connection from `listener`: true when admitted (maybe after an eviction). */
  admit(listener: string): boolean {
    const { limit, open, unauthenticated, reason } = this.options;
    const openNow = open();
    if (limit === 0 || openNow < limit) return true;
    const victim = unauthenticated.oldestEvictable();
    if (victim === undefined) {
      this.shed("refused", listener, openNow);
      return false;
    }
    this.evicting = true;
    try {
      victim.evict(reason);
    } finally {
      this.evicting = false;
    }
    this.shed("evicted", listener, openNow);
    return true;
  }

  /** After a connection under this limit closed: ends the episode once there is room again. */
  closed(): void {
    if (this.evicting) return;
    const episode = this.episodes.released(this.options.open());
    if (episode === undefined) return;
    this.options.logger.info(
      {
        event: "connection_limit_recovered",
        limit_name: this.options.reason,
        limit: this.options.limit,
        open: this.options.open(),
        refused: episode.refused,
        evicted: episode.evicted,
        duration_ms: this.now() - episode.startedAt,
      },
      `${this.options.reason}: below the limit again`,
    );
  }

  private shed(kind: "refused" | "evicted", listener: string, open: number): void {
    const { stats, reason, logger, limit } = this.options;
    stats.countShed(listener, kind, reason);
    const started = this.episodes.shed(kind, this.now());
    if (started === undefined) return;
    stats.limitsReached[reason]++;
    logger.warn(
      {
        event: "connection_limit_reached",
        limit_name: reason,
        limit,
        open,
        ...this.options.details,
      },
      reason === "fd_reserve"
        ? "connection budget reached (fd limit minus the reserve): the oldest silent unauthenticated connections are closed to make room, else new ones are refused; raise the fd limit (ulimit -n) to serve more"
        : "max_connections reached: the oldest silent unauthenticated connections are closed to make room, else new ones are refused",
    );
  }
}
