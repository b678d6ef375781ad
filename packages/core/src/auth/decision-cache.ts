import type { AuthDecision } from "./contract.js";

export interface DecisionCacheOptions {
  /** How long an allow is remembered; 0 remembers none. */
  readonly ttlMs: number;
  /** How long a bad-credentials denial is remembered; 0 remembers none. */
  readonly negativeTtlMs: number;
  readonly maxEntries: number;
  readonly now: () => number;
}

interface Entry {
  readonly decision: AuthDecision;
  readonly expiresAt: number;
  /** What the decision depends on (a provider's or a whole chain's fingerprint): a reload keeps it only while that is unchanged. */
  readonly source: string;
}

/**
 * Recent decisions by credential key, least recently used evicted first. Only allows and
 * bad-credentials denials are kept: an error says nothing about the credentials. A decision
 * marked `reusable: false` (a one-time code) is never kept.
 */
export class DecisionCache {
  /** Map order is the LRU order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Entry>();

  constructor(private options: DecisionCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): AuthDecision | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.options.now()) return undefined;
    this.entries.set(key, entry);
    return entry.decision;
  }

  remember(key: string, decision: AuthDecision, source: string): void {
    const ttlMs = this.ttlFor(decision);
    if (ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { decision, expiresAt: this.options.now() + ttlMs, source });
    this.evictOverflow();
  }

  /** New TTLs apply to decisions remembered from now on; a smaller `maxEntries` evicts at once. */
  configure(options: Omit<DecisionCacheOptions, "now">): void {
    this.options = { ...options, now: this.options.now };
    this.evictOverflow();
  }

  /** Forgets every decision whose source is not kept (its provider changed or left the chain). */
  retainSources(kept: ReadonlySet<string>): void {
    for (const [key, entry] of this.entries) if (!kept.has(entry.source)) this.entries.delete(key);
  }

  /**
   * Forgets every allow that named `identity` (a revocation); returns how many. A scan rather
   * than an index: revocations are rare and the cache is bounded by `maxEntries`.
   */
  forgetIdentity(identity: string): number {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      const { decision } = entry;
      if (!decision.allowed || !decision.info.identities.some((named) => named.identity === identity)) continue;
      this.entries.delete(key);
      dropped += 1;
    }
    return dropped;
  }

  private evictOverflow(): void {
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  private ttlFor(decision: AuthDecision): number {
    if (decision.reusable === false) return 0;
    if (decision.allowed) return this.options.ttlMs;
    return decision.reason === "bad_credentials" ? this.options.negativeTtlMs : 0;
  }
}
