import { ConnectionLimits } from "@gatehouse-proxy/core/engine";
import type { ConnectionLimiter, LimitExceeded, LimitSlot } from "@gatehouse-proxy/core/engine";
import type { RedisClient } from "@gatehouse-proxy/auth-redis/connection";
import { ACQUIRE_LEASE, REFRESH_LEASES } from "./scripts.js";
import type { StoreHealth } from "./store-health.js";
import type { StateKeys } from "./state-keys.js";

interface Lease extends LimitSlot {
  /** The lease's member in each set it was added to; undefined for a slot counted locally. */
  readonly member: string | undefined;
  readonly keys: readonly string[];
  /** The slot of the local fallback (on_store_error: allow while Redis was down). */
  readonly local: LimitSlot | undefined;
}

/** No limit applies: nothing was counted, nothing to give back. */
const UNCOUNTED: Lease = { identity: undefined, ip: "", member: undefined, keys: [], local: undefined };

/**
 * Fleet-wide connection limits: a lease per open session in a Redis sorted set per identity and
 * per client IP (score = expiry), taken by one Lua script (exact under concurrency) and kept alive
 * by a heartbeat every TTL/3 (one call for all of this instance's leases). An instance that dies
 * stops refreshing, and its leases expire within the TTL. Only the limits that apply are leased:
 * nothing is sent when none does.
 */
export class RedisLimits implements ConnectionLimiter {
  private readonly held = new Set<Lease>();
  private readonly local = new ConnectionLimits();
  private readonly heartbeat: NodeJS.Timeout;
  private nextLease = 1;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: StateKeys,
    private readonly instance: string,
    private readonly ttlMs: number,
    private readonly health: StoreHealth,
  ) {
    this.heartbeat = setInterval(() => void this.refresh(), Math.max(100, Math.floor(ttlMs / 3)));
    this.heartbeat.unref();
  }

  async tryAcquire(
    identity: string | undefined,
    ip: string,
    maxPerIdentity: number,
    maxPerIp: number,
  ): Promise<LimitSlot | LimitExceeded> {
    const keys: string[] = [];
    const limits: number[] = [];
    const kinds: LimitExceeded[] = [];
    if (identity !== undefined && maxPerIdentity > 0) {
      keys.push(this.keys.identityLeases(identity));
      limits.push(maxPerIdentity);
      kinds.push("max_connections_per_identity");
    }
    if (maxPerIp > 0) {
      keys.push(this.keys.ipLeases(ip));
      limits.push(maxPerIp);
      kinds.push("max_connections_per_ip");
    }
    if (keys.length === 0) return UNCOUNTED;
    const member = `${this.instance}:${String(this.nextLease++)}`;
    let full: number;
    try {
      full = Number(await this.client.eval(ACQUIRE_LEASE, keys.length, ...keys, this.ttlMs, member, ...limits));
    } catch (error) {
      this.health.failed("acquire", error);
      if (this.health.action === "denied") return "limit_store_unavailable";
      const slot = this.local.tryAcquire(identity, ip, maxPerIdentity, maxPerIp);
      if (typeof slot === "string") return slot;
      const fallback: Lease = { identity, ip, member: undefined, keys: [], local: slot };
      return fallback;
    }
    this.health.succeeded();
    if (full !== 0) return kinds[full - 1] ?? "limit_store_unavailable";
    const lease: Lease = { identity, ip, member, keys, local: undefined };
    this.held.add(lease);
    return lease;
  }

  release(slot: LimitSlot): void {
    const lease = slot as Lease;
    if (lease.local !== undefined) return this.local.release(lease.local);
    if (lease.member === undefined || !this.held.delete(lease)) return;
    const pipeline = this.client.pipeline();
    for (const key of lease.keys) pipeline.zrem(key, lease.member);
    // Not given back now (Redis down): the lease expires within the TTL, as a dead instance's.
    pipeline.exec().catch(() => undefined);
  }

  /** Leases this instance holds in Redis (diagnostics and tests). */
  get leaseCount(): number {
    return this.held.size;
  }

  /** One call renews every lease; a lease lost meanwhile (Redis restarted) is added again. */
  async refresh(): Promise<void> {
    if (this.held.size === 0) return;
    const keys: string[] = [];
    const members: string[] = [];
    for (const lease of this.held) {
      for (const key of lease.keys) {
        keys.push(key);
        members.push(lease.member!);
      }
    }
    try {
      await this.client.eval(REFRESH_LEASES, keys.length, ...keys, this.ttlMs, ...members);
      this.health.succeeded();
    } catch (error) {
      this.health.failed("heartbeat", error, false);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
  }
}
