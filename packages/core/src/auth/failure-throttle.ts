import { FailureLog } from "./failure-log.js";
import type { FailureLogOptions } from "./failure-log.js";
import { RecencyMap } from "./recency-map.js";

/** What blocked an attempt: its client address, or its username (from a suspect address). */
export type ThrottledBy = "client_address" | "username";

/** An attempt the throttle refused, or let through with a claim to give back once it is decided. */
export type ThrottleAdmission =
  | { readonly throttledBy: ThrottledBy; readonly release?: undefined }
  | { readonly throttledBy?: undefined; release(): void };

/**
 * Where the failure throttle's record lives: this process (`FailureThrottle`), or one place
 * every worker reaches (the `workers` primary), so a sprayer is slowed the same whichever
 * worker it reaches. `address` is the client's IP, without a port.
 */
export interface FailureThrottleStore {
  /** `blockedBy` and `claim` in one step (one round trip for a shared store). */
  admit(username: string, address: string): ThrottleAdmission | Promise<ThrottleAdmission>;
  recordFailure(username: string, address: string): void;
  recordSuccess(username: string, address: string): void;
}

/**
 * Refuses a client address or a username after too many bad-credential denials, before any
 * provider is asked: one client must not be able to lock directory accounts through the proxy.
 *
 * A blocked username is refused only to suspect addresses (smart lockout, as large directories
 * treat unfamiliar locations): an address that failed for that username within window + block
 * and has not logged in as it within `familiarMs`. An address that never failed for the
 * username, or a familiar one, is still asked about: guessers slow down, the user is not
 * locked out by them. Every table is bounded by `maxTracked` (least recent forgotten first).
 */
export class FailureThrottle implements FailureThrottleStore {
  private readonly byAddress: FailureLog;
  private readonly byUsername: FailureLog;
  /** `username \0 address` of recent bad-credential failures. */
  private readonly suspects: RecencyMap;
  /** `username \0 address` of recent successful logins. */
  private readonly familiar: RecencyMap;
  /**
   * `username \0 address` of attempts in flight that a blocked username let through: one at a
   * time, or an address that has not failed yet could fire a burst of guesses in parallel.
   */
  private readonly probing = new Set<string>();

  constructor(private readonly options: FailureLogOptions) {
    this.byAddress = new FailureLog(options);
    this.byUsername = new FailureLog(options);
    this.suspects = new RecencyMap(() => options.maxTracked);
    this.familiar = new RecencyMap(() => options.maxTracked);
  }

  admit(username: string, address: string): ThrottleAdmission {
    const throttledBy = this.blockedBy(username, address);
    return throttledBy !== undefined
      ? { throttledBy }
      : { release: this.claim(username, address) ?? NOTHING_TO_RELEASE };
  }

  blockedBy(username: string, address: string): ThrottledBy | undefined {
    if (this.byAddress.isBlocked(address)) return "client_address";
    const user = usernameKey(username);
    if (!this.byUsername.isBlocked(user)) return undefined;
    const pair = pairKey(user, address);
    const { now, familiarMs, windowMs, blockMs } = this.options;
    const at = now();
    if (this.familiar.seenSince(pair, at - familiarMs)) return undefined;
    if (this.probing.has(pair)) return "username";
    return this.suspects.seenSince(pair, at - (windowMs + blockMs)) ? "username" : undefined;
  }

  /**
   * Call after blockedBy let an attempt through and before the provider is asked; call the
   * returned function once the attempt is decided (undefined: nothing was claimed, the common
   * case). While the username is blocked, an unfamiliar address has one attempt in flight at most.
   */
  claim(username: string, address: string): (() => void) | undefined {
    const user = usernameKey(username);
    if (!this.byUsername.isBlocked(user)) return undefined;
    const pair = pairKey(user, address);
    if (this.familiar.seenSince(pair, this.options.now() - this.options.familiarMs)) return undefined;
    this.probing.add(pair);
    return () => this.probing.delete(pair);
  }

  recordFailure(username: string, address: string): void {
    const user = usernameKey(username);
    this.byAddress.recordFailure(address);
    this.byUsername.recordFailure(user, address);
    this.suspects.touch(pairKey(user, address), this.options.now());
  }

  recordSuccess(username: string, address: string): void {
    const user = usernameKey(username);
    const pair = pairKey(user, address);
    this.byAddress.clearFailures(address);
    // Only this address's own failures: those of guessers elsewhere keep counting.
    this.byUsername.clearFailures(user, address);
    this.suspects.delete(pair);
    this.familiar.touch(pair, this.options.now());
  }
}

const NOTHING_TO_RELEASE = (): void => undefined;

/**
 * Directories usually match names case-insensitively, so `Alice` and `ALICE` reach the same
 * account: they share one failure count.
 */
export function usernameKey(username: string): string {
  return username.normalize("NFKC").toLowerCase();
}

/** NUL cannot occur in a client address, so the pair is unambiguous. */
function pairKey(user: string, address: string): string {
  return `${user}\0${address}`;
}
