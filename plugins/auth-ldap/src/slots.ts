import { abortReason } from "@gatehouse-proxy/core";

/** Gives back a slot; calling it again does nothing. */
export type Release = () => void;

/**
 * At most `size` holders at once; later callers wait in arrival order until a slot is given
 * back, or leave the queue when their signal aborts. Bounds the user-bind connections a burst
 * of logins opens to the directory (each one may cost a TLS handshake on both sides).
 */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  acquire(signal: AbortSignal): Promise<Release> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.active < this.size) {
      this.active += 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve(this.releaser());
      };
      const onAbort = (): void => {
        const index = this.waiting.indexOf(grant);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(abortReason(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  /** Holders plus waiters, for tests and diagnostics. */
  get pending(): { readonly active: number; readonly waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the next waiter, so `active` stays the same.
      const next = this.waiting.shift();
      if (next === undefined) this.active -= 1;
      else next();
    };
  }
}
