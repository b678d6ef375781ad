import type { Logger } from "@gatehouse-proxy/core";
import { LdapBackendError, describe, isResultCodeError, transportErrorCode } from "./errors.js";

/**
 * The configured URLs in order. A server that refused or timed out rests for `retryAfterMs`:
 * healthy servers are tried first, resting ones last (rather than not at all).
 */
export class ServerSet {
  private readonly restingUntil = new Map<string, number>();

  constructor(
    readonly urls: readonly string[],
    private readonly retryAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  order(): string[] {
    const time = this.now();
    const ready = this.urls.filter((url) => (this.restingUntil.get(url) ?? 0) <= time);
    const resting = this.urls.filter((url) => !ready.includes(url));
    return [...ready, ...resting];
  }

  markDown(url: string): void {
    this.restingUntil.set(url, this.now() + this.retryAfterMs);
  }

  markUp(url: string): void {
    this.restingUntil.delete(url);
  }
}

/**
 * Runs `attempt` against each server in turn until one answers. Transport failures (refused,
 * timed out, TLS) move on to the next server; an LDAP result (e.g. 49) or our own backend error
 * is the answer and is thrown as is. When every server failed, throws an LdapBackendError.
 */
export async function withFailover<T>(
  servers: ServerSet,
  logger: Logger,
  signal: AbortSignal | undefined,
  attempt: (url: string) => Promise<T>,
): Promise<T> {
  const failures: string[] = [];
  let last: unknown;
  for (const url of servers.order()) {
    signal?.throwIfAborted();
    try {
      const result = await attempt(url);
      servers.markUp(url);
      return result;
    } catch (error) {
      if (isResultCodeError(error) || error instanceof LdapBackendError || signal?.aborted === true) throw error;
      servers.markDown(url);
      last = error;
      failures.push(`${url}: ${describe(error)}`);
      logger.warn({ event: "ldap_server_failed", server: url, error: describe(error) }, "LDAP server failed");
    }
  }
  throw new LdapBackendError(`no LDAP server answered: ${failures.join("; ")}`, transportErrorCode(last), {
    cause: last,
  });
}
