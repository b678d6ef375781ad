/**
 * Counts the lookups each key (an identity, or a client IP) has waiting on the name servers
 * and refuses one beyond `max`: a client that asks for names that never answer ties up only
 * its own share.
 */
export class InFlightCap {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  /** A release function (safe to call twice), or undefined when `key` is at its cap. */
  tryAcquire(key: string): (() => void) | undefined {
    const count = this.counts.get(key) ?? 0;
    if (count >= this.max) return undefined;
    this.counts.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left <= 0) this.counts.delete(key);
      else this.counts.set(key, left);
    };
  }

  inFlight(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
