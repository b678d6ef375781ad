/** The last `capacity` items pushed; older ones are overwritten. Push is O(1) and allocates nothing once full. */
export class RingBuffer<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Up to `limit` items, newest first. */
  newest(limit = this.count): T[] {
    const wanted = Math.max(0, Math.min(limit, this.count));
    const out: T[] = [];
    for (let index = 1; index <= wanted; index++) {
      out.push(this.items[(this.next - index + this.capacity) % this.capacity] as T);
    }
    return out;
  }
}
