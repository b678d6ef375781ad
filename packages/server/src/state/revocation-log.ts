/** At most this many applied revocations are remembered (to apply each once). */
const MAX_REMEMBERED = 10_000;

/**
 * Which revocations this instance has applied: each message once, whether it was heard on the
 * channel or read from the recent log after a reconnection (both can carry the same one), and
 * the Redis time up to which this instance is known to have heard everything.
 */
export class RevocationLog {
  private readonly applied = new Set<string>();
  private upTo: number | undefined;

  /** Undefined until the first subscription: nothing before it concerns this instance. */
  get heardUpTo(): number | undefined {
    return this.upTo;
  }

  start(redisNowMs: number): void {
    this.upTo ??= redisNowMs;
  }

  /** The identity to revoke, or undefined for a malformed message or one applied already. */
  accept(message: string): string | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return undefined;
    }
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const { identity, at } = parsed as { identity?: unknown; at?: unknown };
    if (typeof identity !== "string" || identity === "" || this.applied.has(message)) return undefined;
    this.applied.add(message);
    if (this.applied.size > MAX_REMEMBERED) this.applied.delete(this.applied.values().next().value!);
    if (typeof at === "number" && (this.upTo === undefined || at > this.upTo)) this.upTo = at;
    return identity;
  }
}
