import type { LiveSession, SessionFilter } from "@gatehouse-proxy/core/engine";
import type { AuthDecisionRow, DecisionOutcome, ProviderActivity } from "./auth-activity.js";
import { roundMs } from "./auth-activity.js";

/** One live session as `GET /api/sessions` shows it. */
export interface SessionRow {
  readonly id: string;
  readonly listener: string;
  readonly peer: string;
  readonly identity: string | null;
  readonly groups: readonly string[];
  readonly provider: string | null;
  readonly command: string | null;
  readonly destination: {
    readonly name: string | null;
    readonly address: string | null;
    readonly port: number | null;
  };
  readonly bytes: { readonly up: number; readonly down: number };
  readonly started: string;
  readonly last_activity: string;
  readonly relay: "js" | "splice" | "udp" | null;
  /** A UDP association (`command: "udp"`): where the client sends, from where, datagrams each way, drops by reason; null for a tunnel. */
  readonly udp: {
    readonly relay: string;
    readonly client: string;
    readonly datagrams: { readonly up: number; readonly down: number };
    readonly dropped: Readonly<Record<string, number>>;
  } | null;
  /** The `workers` worker that serves it; null without workers. */
  readonly worker: number | null;
}

/** `GET /api/sessions`: one page. */
export interface SessionListing {
  readonly sessions: SessionRow[];
  readonly total: number;
  /** Pass as `cursor` for the next page; null on the last. */
  readonly next_cursor: string | null;
  /** `workers` whose answer did not come in time: their sessions are missing from this page and `total`. Empty without workers. */
  readonly unanswered_workers: readonly number[];
}

export interface SessionListQuery extends SessionFilter {
  readonly limit: number;
  /** The `next_cursor` of the previous page. */
  readonly cursor?: string;
}

/** `POST /api/sessions/close`: exactly one of these. */
export type CloseSelector = { readonly id: string } | { readonly identity: string } | { readonly peer: string };

export type ProviderHealth = "ok" | "failing";

/** A provider's health() as one process saw it. */
export interface ProviderHealthReport {
  readonly name: string;
  readonly health: ProviderHealth;
  readonly message: string | null;
}

/** What one process knows of one provider: its health, its activity, and whether its decisions are cached at all. */
export interface ProviderReport extends ProviderHealthReport {
  readonly activity: ProviderActivity;
  readonly cached: boolean;
}

/** One provider as `GET /api/providers` shows it. */
export interface ProviderRow {
  readonly name: string;
  readonly health: ProviderHealth;
  readonly message: string | null;
  readonly decisions: Record<DecisionOutcome, number>;
  /** Over the last decisions that asked the provider; null before the first. */
  readonly latency_ms: { readonly p50: number; readonly p90: number; readonly p99: number } | null;
  /** Null when the provider's decisions are never cached (cache off, or `reusable: false`). */
  readonly cache: { readonly hits: number; readonly misses: number; readonly hit_ratio: number | null } | null;
}

/**
 * What the admin listener's `/api/*` routes ask: one process (its engine), or the `workers`
 * primary gathering its workers' answers. Rejecting with an AdminRequestError answers with its
 * status; any other rejection is a 500.
 */
export interface OperatorApi {
  listSessions(query: SessionListQuery): Promise<SessionListing>;
  /** Resolves with how many sessions ended; AdminRequestError 404 for an id that is not live. */
  closeSessions(selector: CloseSelector): Promise<number>;
  recentAuth(limit: number): Promise<AuthDecisionRow[]>;
  providers(): Promise<ProviderRow[]>;
}

/** A request the admin API refuses, with the HTTP status it answers. */
export class AdminRequestError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 503,
    message: string,
  ) {
    super(message);
  }
}

export function sessionRow(session: LiveSession, worker?: number): SessionRow {
  return {
    id: worker === undefined ? String(session.id) : `${String(worker)}-${String(session.id)}`,
    listener: session.listener,
    peer: session.peer,
    identity: session.identity ?? null,
    groups: session.groups,
    provider: session.provider ?? null,
    command: session.command ?? null,
    destination: {
      name: session.destinationName ?? null,
      address: session.destinationAddress ?? null,
      port: session.destinationPort ?? null,
    },
    bytes: { up: session.bytesClientToDest, down: session.bytesDestToClient },
    started: new Date(session.startedAt).toISOString(),
    last_activity: new Date(session.lastActivityAt).toISOString(),
    relay: session.relay ?? null,
    udp:
      session.udp === undefined
        ? null
        : {
            relay: session.udp.relay,
            client: session.udp.client,
            datagrams: { up: session.udp.datagramsClientToDest, down: session.udp.datagramsDestToClient },
            dropped: session.udp.dropped,
          },
    worker: worker ?? null,
  };
}

/**
 * One provider's row from what each process reported of it (one report without workers, one per
 * worker with them): decisions and cache counts summed, percentiles over every sample, failing
 * when any process's health() failed (its message first).
 */
export function providerRow(reports: readonly ProviderReport[]): ProviderRow {
  const first = reports[0];
  if (first === undefined) throw new Error("providerRow needs at least one report");
  const decisions = { allowed: 0, denied: 0, failed: 0 };
  let hits = 0;
  let misses = 0;
  const samples: number[] = [];
  for (const { activity } of reports) {
    decisions.allowed += activity.decisions.allowed;
    decisions.denied += activity.decisions.denied;
    decisions.failed += activity.decisions.failed;
    hits += activity.cache.hits;
    misses += activity.cache.misses;
    samples.push(...activity.latencySamples);
  }
  const failing = reports.find((report) => report.health === "failing");
  return {
    name: first.name,
    health: failing === undefined ? "ok" : "failing",
    message: failing?.message ?? null,
    decisions,
    latency_ms: percentiles(samples),
    cache: reports.some((report) => report.cached)
      ? { hits, misses, hit_ratio: hits + misses === 0 ? null : roundRatio(hits / (hits + misses)) }
      : null,
  };
}

/** Nearest-rank p50/p90/p99 of `samples` (ms); null when there are none. */
export function percentiles(samples: readonly number[]): ProviderRow["latency_ms"] {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number): number => roundMs(sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!);
  return { p50: at(50), p90: at(90), p99: at(99) };
}

function roundRatio(ratio: number): number {
  return Math.round(ratio * 10_000) / 10_000;
}
