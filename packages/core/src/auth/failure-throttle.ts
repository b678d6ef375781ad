import { clientAddress } from "./client-address.js";
import type { ConnMeta } from "./contract.js";
import { FailureLog } from "./failure-log.js";
import type { FailureLogOptions } from "./failure-log.js";

export type ThrottledBy = "client_address" | "username";

/**
 * Refuses a client address or a username after too many bad-credential denials, before any
 * provider is asked: one client must not be able to lock directory accounts through the proxy.
 */
export class FailureThrottle {
  private readonly byAddress: FailureLog;
  private readonly byUsername: FailureLog;

  constructor(options: FailureLogOptions) {
    this.byAddress = new FailureLog(options);
    this.byUsername = new FailureLog(options);
  }

  blockedBy(username: string, connMeta: ConnMeta): ThrottledBy | undefined {
    if (this.byAddress.isBlocked(clientAddress(connMeta.peer_address))) return "client_address";
    if (this.byUsername.isBlocked(usernameKey(username))) return "username";
    return undefined;
  }

  recordFailure(username: string, connMeta: ConnMeta): void {
    this.byAddress.recordFailure(clientAddress(connMeta.peer_address));
    this.byUsername.recordFailure(usernameKey(username));
  }

  recordSuccess(username: string, connMeta: ConnMeta): void {
    this.byAddress.clearFailures(clientAddress(connMeta.peer_address));
    this.byUsername.clearFailures(usernameKey(username));
  }
}

/**
 * Directories usually match names case-insensitively, so `Alice` and `ALICE` reach the same
 * account: they share one failure count.
 */
function usernameKey(username: string): string {
  return username.normalize("NFKC").toLowerCase();
}
