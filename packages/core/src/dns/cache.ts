import type { LookupAddress } from "node:dns";
import type { DnsErrorCode } from "./errors.js";

/** What a lookup ended with: the address to dial, or the error that says the name has none. */
export type DnsAnswer =
  { readonly ok: true; readonly address: LookupAddress } | { readonly ok: false; readonly code: DnsErrorCode };

interface Entry {
  readonly answer: DnsAnswer;
  readonly expiresAt: number;
}

/**
 * Answers by canonical name, each until its own expiry; at most `maxEntries`, the oldest
 * dropped first (a Map keeps insertion order), so a client asking for endless distinct names
 * cannot grow it without bound.
 */
export class DnsCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries = 10_000) {}

  get(name: string, now: number): DnsAnswer | undefined {
    const entry = this.entries.get(name);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry.answer;
    this.entries.delete(name);
    return undefined;
  }

  /** Keeps `answer` for `ttlMs` (nothing for 0). */
  set(name: string, answer: DnsAnswer, ttlMs: number, now: number): void {
    this.entries.delete(name);
    if (ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(name, { answer, expiresAt: now + ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }
}
