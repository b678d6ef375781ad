import type { AuthEvent, ProxyHooks } from "@gatehouse-proxy/core/engine";
import { classifyAuthDecision } from "@gatehouse-proxy/core/engine";
import { RingBuffer } from "./ring-buffer.js";

/** How many auth decisions `GET /api/auth/recent` can show (per process). */
export const RECENT_DECISIONS = 1000;
/** How many latencies per provider the percentiles of `GET /api/providers` are computed over. */
export const LATENCY_SAMPLES = 1024;

/** `allow`/`deny`/`error` as the operator's view names them. */
export type DecisionOutcome = "allowed" | "denied" | "failed";

const OUTCOMES = { allow: "allowed", deny: "denied", error: "failed" } as const;

/** One decision as `GET /api/auth/recent` shows it. Never the password: AuthEvent does not carry it. */
export interface AuthDecisionRow {
  readonly time: string;
  readonly peer: string;
  readonly username: string | null;
  readonly provider: string | null;
  readonly outcome: DecisionOutcome;
  /** `ok` for an allow, else the deny reason (`bad_credentials`, `throttled`, `backend_timeout`, ...). */
  readonly reason: string;
  readonly latency_ms: number;
}

/** What this process saw of one provider's decisions (summed or merged across workers by providerRow). */
export interface ProviderActivity {
  readonly name: string;
  readonly decisions: Record<DecisionOutcome, number>;
  /** Latencies (ms) of the last decisions that asked the provider (cache hits excluded), oldest first not guaranteed. */
  readonly latencySamples: number[];
  readonly cache: { readonly hits: number; readonly misses: number };
}

interface ProviderCounters {
  readonly decisions: Record<DecisionOutcome, number>;
  readonly latencies: RingBuffer<number>;
  hits: number;
  misses: number;
}

interface StoredDecision {
  readonly at: number;
  readonly event: AuthEvent;
}

/**
 * The auth decisions of this process as the operator's view reads them, fed by the
 * onAuthDecision hook: a ring of the last RECENT_DECISIONS, and per provider the decisions by
 * outcome, recent latencies and decision-cache hits (a cached decision) and misses (asked).
 * The hook only stores what the event already holds; rows are formatted when read.
 */
export class AuthActivity {
  private readonly recentDecisions: RingBuffer<StoredDecision>;
  private readonly providers = new Map<string, ProviderCounters>();

  constructor(
    capacity = RECENT_DECISIONS,
    private readonly now: () => number = Date.now,
  ) {
    this.recentDecisions = new RingBuffer(capacity);
  }

  readonly hooks: ProxyHooks = {
    onAuthDecision: (event) => this.record(event),
  };

  record(event: AuthEvent): void {
    this.recentDecisions.push({ at: this.now(), event });
    const provider = event.decision.provider;
    if (provider === undefined) return;
    const counters = this.countersOf(provider);
    counters.decisions[OUTCOMES[classifyAuthDecision(event.decision).outcome]]++;
    if (event.decision.cached === true) {
      counters.hits++;
    } else {
      counters.misses++;
      counters.latencies.push(event.durationMs);
    }
  }

  /** The last `limit` decisions, newest first. */
  recent(limit: number): AuthDecisionRow[] {
    return this.recentDecisions.newest(limit).map(({ at, event }) => decisionRow(at, event));
  }

  /** What this process saw of `name` (zeros when nothing yet). */
  provider(name: string): ProviderActivity {
    const counters = this.providers.get(name);
    return {
      name,
      decisions: { ...(counters?.decisions ?? emptyDecisions()) },
      latencySamples: counters?.latencies.newest() ?? [],
      cache: { hits: counters?.hits ?? 0, misses: counters?.misses ?? 0 },
    };
  }

  private countersOf(provider: string): ProviderCounters {
    let counters = this.providers.get(provider);
    if (counters === undefined) {
      counters = { decisions: emptyDecisions(), latencies: new RingBuffer(LATENCY_SAMPLES), hits: 0, misses: 0 };
      this.providers.set(provider, counters);
    }
    return counters;
  }
}

function emptyDecisions(): Record<DecisionOutcome, number> {
  return { allowed: 0, denied: 0, failed: 0 };
}

function decisionRow(at: number, event: AuthEvent): AuthDecisionRow {
  const { outcome, reason } = classifyAuthDecision(event.decision);
  return {
    time: new Date(at).toISOString(),
    peer: event.peer,
    username: event.username ?? null,
    provider: event.decision.provider ?? null,
    outcome: OUTCOMES[outcome],
    reason,
    latency_ms: roundMs(event.durationMs),
  };
}

/** Milliseconds to three decimals (microseconds): enough for a person, short in JSON. */
export function roundMs(ms: number): number {
  return Math.round(Math.max(0, ms) * 1000) / 1000;
}
