import type { Logger as PinoLogger } from "pino";

/**
 * What a failed call to the state store led to: a decision refused (deny) or answered from local
 * state (allow), or nothing decided (`none`: a heartbeat, an outcome record, the subscription).
 */
export type StoreErrorAction = "denied" | "local" | "none";

/**
 * Whether the shared state store answers: the first failure of an outage is logged (once, not
 * per connection), every failure is counted, and the first success after it logs the recovery.
 */
export class StoreHealth {
  private up = true;
  private readonly counts: Record<StoreErrorAction, number> = { denied: 0, local: 0, none: 0 };
  private readonly listeners: ((action: StoreErrorAction) => void)[] = [];

  constructor(
    private readonly logger: PinoLogger,
    private readonly onStoreError: "deny" | "allow",
  ) {}

  /** What a failed admission (a lease, a throttle check) leads to. */
  get action(): StoreErrorAction {
    return this.onStoreError === "deny" ? "denied" : "local";
  }

  /** Calls `listener` at every failure (the metric). */
  onFailure(listener: (action: StoreErrorAction) => void): void {
    this.listeners.push(listener);
  }

  /** `decides`: whether the failed call was to admit something (else it is background work). */
  failed(operation: string, error: unknown, decides = true): void {
    const action = decides ? this.action : "none";
    this.counts[action] += 1;
    for (const listener of this.listeners) listener(action);
    if (!this.up) return;
    this.up = false;
    const message = error instanceof Error ? error.message : String(error);
    this.logger.error(
      { event: "state_store_unavailable", operation, on_store_error: this.onStoreError, err_message: message },
      this.onStoreError === "deny"
        ? "the shared state store (Redis) does not answer: refusing what needs it (on_store_error: deny)"
        : "the shared state store (Redis) does not answer: serving with this instance's own state (on_store_error: allow)",
    );
  }

  succeeded(): void {
    if (this.up) return;
    this.up = true;
    this.logger.info({ event: "state_store_recovered" }, "the shared state store (Redis) answers again");
  }

  /** Failures so far by what they led to (diagnostics and tests). */
  failures(): Readonly<Record<StoreErrorAction, number>> {
    return { ...this.counts };
  }
}
