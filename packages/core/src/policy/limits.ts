/**
 * Which limit refused a session; `limit_store_unavailable` when a shared store did not answer
 * in time (limits fail closed).
 */
export type LimitExceeded = "max_connections_per_identity" | "max_connections_per_ip" | "limit_store_unavailable";

/** A slot a session holds until it ends; release it exactly once. */
export interface LimitSlot {
  readonly identity: string | undefined;
  readonly ip: string;
}

/**
 * Where open sessions are counted per identity and per client IP. `ConnectionLimits` counts in
 * this process; a shared store (the `workers` primary, reached over IPC) answers with a
 * promise. Either way one store decides, so a limit holds exactly.
 */
export interface ConnectionLimiter {
  /** Takes a slot, or says which limit is full (0 = no limit). */
  tryAcquire(
    identity: string | undefined,
    ip: string,
    maxPerIdentity: number,
    maxPerIp: number,
  ): LimitSlot | LimitExceeded | Promise<LimitSlot | LimitExceeded>;
  release(slot: LimitSlot): void;
}

/**
 * Open sessions per identity and per client IP, server-wide (shared by every listener and
 * kept across reloads, so a reload never resets what is open).
 */
export class ConnectionLimits implements ConnectionLimiter {
  private readonly byIdentity = new Map<string, number>();
  private readonly byIp = new Map<string, number>();

  /** Takes a slot, or says which limit is full (0 = no limit). */
  tryAcquire(
    identity: string | undefined,
    ip: string,
    maxPerIdentity: number,
    maxPerIp: number,
  ): LimitSlot | Exclude<LimitExceeded, "limit_store_unavailable"> {
    const identityCount = identity === undefined ? 0 : (this.byIdentity.get(identity) ?? 0);
    const ipCount = this.byIp.get(ip) ?? 0;
    if (identity !== undefined && maxPerIdentity > 0 && identityCount >= maxPerIdentity) {
      return "max_connections_per_identity";
    }
    if (maxPerIp > 0 && ipCount >= maxPerIp) return "max_connections_per_ip";
    if (identity !== undefined) this.byIdentity.set(identity, identityCount + 1);
    this.byIp.set(ip, ipCount + 1);
    return { identity, ip };
  }

  release(slot: LimitSlot): void {
    if (slot.identity !== undefined) decrement(this.byIdentity, slot.identity);
    decrement(this.byIp, slot.ip);
  }

  /** Open sessions counted for an identity or an IP (for tests and diagnostics). */
  count(kind: "identity" | "ip", key: string): number {
    return (kind === "identity" ? this.byIdentity : this.byIp).get(key) ?? 0;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const next = (map.get(key) ?? 0) - 1;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}
