/**
 * Keys with the time they were last seen, at most `capacity()` of them: touching a key moves
 * it to the end, and the least recently touched goes first when the map is full. The capacity
 * is read at every touch, so a reload can change it in place.
 */
export class RecencyMap {
  /** Map order is recency. */
  private readonly seenAt = new Map<string, number>();

  constructor(private readonly capacity: () => number) {}

  get size(): number {
    return this.seenAt.size;
  }

  touch(key: string, at: number): void {
    this.seenAt.delete(key);
    this.seenAt.set(key, at);
    const capacity = this.capacity();
    while (this.seenAt.size > capacity) {
      const oldest = this.seenAt.keys().next();
      if (oldest.done === true) return;
      this.seenAt.delete(oldest.value);
    }
  }

  /** Whether `key` was touched after `since`; an older entry is forgotten on the way. */
  seenSince(key: string, since: number): boolean {
    const at = this.seenAt.get(key);
    if (at === undefined) return false;
    if (at > since) return true;
    this.seenAt.delete(key);
    return false;
  }

  delete(key: string): void {
    this.seenAt.delete(key);
  }
}
