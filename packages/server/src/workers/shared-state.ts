import { ConnectionLimits, FailureThrottle, throttleOptionsFromSettings } from "@gatehouse-proxy/core/engine";
import type {
  ConnectionLimiter,
  FailureLogOptions,
  FailureThrottleStore,
  LimitExceeded,
  LimitSlot,
  ThrottleAdmission,
  ThrottledBy,
} from "@gatehouse-proxy/core/engine";
import { NOTHING_CLAIMED } from "../state/nothing-claimed.js";
import type { Message, RpcPeer } from "./rpc.js";

// Connection limits and the failure throttle with `workers`: one record in the primary, asked
// over IPC by every worker. Exact because one process decides; a worker pays one round trip
// per slot or login attempt, and nothing at all when no limit applies.

/** How long a worker waits for the primary before failing closed. */
export const SHARED_STATE_TIMEOUT_MS = 2000;

export interface AcquireRequest extends Message {
  readonly type: "acquire";
  readonly identity: string | undefined;
  readonly ip: string;
  readonly maxPerIdentity: number;
  readonly maxPerIp: number;
}
export type AcquireReply = { readonly slot: number } | { readonly exceeded: LimitExceeded };

export interface AdmitRequest extends Message {
  readonly type: "admit";
  readonly username: string;
  readonly address: string;
}
/** `claim` 0: nothing to give back. */
export type AdmitReply = { readonly throttledBy: ThrottledBy } | { readonly claim: number };

export type SharedStateNote =
  | { readonly type: "release"; readonly slot: number }
  | { readonly type: "unclaim"; readonly claim: number }
  | { readonly type: "auth_failure" | "auth_success"; readonly username: string; readonly address: string };

interface RemoteSlot extends LimitSlot {
  readonly id: number;
}

/** No limit applies: nothing was counted, nothing to give back. */
const UNCOUNTED: RemoteSlot = { identity: undefined, ip: "", id: 0 };

/** A worker's view: the engine's ConnectionLimiter and FailureThrottleStore, answered by the primary. */
export class SharedStateClient implements ConnectionLimiter, FailureThrottleStore {
  constructor(private readonly primary: RpcPeer) {}

  tryAcquire(
    identity: string | undefined,
    ip: string,
    maxPerIdentity: number,
    maxPerIp: number,
  ): LimitSlot | LimitExceeded | Promise<LimitSlot | LimitExceeded> {
    if (maxPerIp === 0 && (maxPerIdentity === 0 || identity === undefined)) return UNCOUNTED;
    const request: AcquireRequest = { type: "acquire", identity, ip, maxPerIdentity, maxPerIp };
    return this.primary.request<AcquireReply>(request, SHARED_STATE_TIMEOUT_MS).then(
      (reply): RemoteSlot | LimitExceeded => ("exceeded" in reply ? reply.exceeded : { identity, ip, id: reply.slot }),
      // Fail closed: without the primary's count a limit cannot be known to hold.
      (): LimitExceeded => "limit_store_unavailable",
    );
  }

  release(slot: LimitSlot): void {
    const { id } = slot as RemoteSlot;
    if (id !== 0) this.primary.note({ type: "release", slot: id } satisfies SharedStateNote);
  }

  async admit(username: string, address: string): Promise<ThrottleAdmission> {
    const request: AdmitRequest = { type: "admit", username, address };
    const reply = await this.primary.request<AdmitReply>(request, SHARED_STATE_TIMEOUT_MS);
    if ("throttledBy" in reply) return { throttledBy: reply.throttledBy };
    const { claim } = reply;
    return {
      release: () => {
        if (claim !== 0) this.primary.note({ type: "unclaim", claim } satisfies SharedStateNote);
      },
    };
  }

  recordFailure(username: string, address: string): void {
    this.primary.note({ type: "auth_failure", username, address } satisfies SharedStateNote);
  }

  recordSuccess(username: string, address: string): void {
    this.primary.note({ type: "auth_success", username, address } satisfies SharedStateNote);
  }
}

/**
 * Where the primary keeps what its workers share: the engine's own ConnectionLimiter and
 * FailureThrottleStore interfaces, so the host needs no store interface of its own. `memory`
 * (default) is ConnectionLimits + FailureThrottle in the primary; `state: {store: redis}` is the
 * Redis store, which the primary alone talks to: one set of leases per instance, not per worker.
 */
export interface HostStores {
  readonly limits: ConnectionLimiter;
  readonly throttle: FailureThrottleStore;
  /** New throttle limits from a reload; what was recorded stays. */
  configureThrottle(throttle: Omit<FailureLogOptions, "now"> | undefined): void;
}

/** ConnectionLimits and FailureThrottle in this process (the primary). */
export function memoryStores(
  throttle: Omit<FailureLogOptions, "now"> | undefined,
  now: () => number = Date.now,
): HostStores & { readonly limits: ConnectionLimits } {
  // With `throttle: false` workers do not ask; the defaults only fill the record's shape.
  const settings: { -readonly [K in keyof FailureLogOptions]: FailureLogOptions[K] } = {
    ...(throttle ?? throttleOptionsFromSettings({})!),
    now,
  };
  const record = new FailureThrottle(settings);
  return {
    limits: new ConnectionLimits(),
    throttle: {
      admit(username, address) {
        const throttledBy = record.blockedBy(username, address);
        if (throttledBy !== undefined) return { throttledBy };
        const release = record.claim(username, address);
        return release === undefined ? NOTHING_CLAIMED : { release };
      },
      recordFailure: (username, address) => record.recordFailure(username, address),
      recordSuccess: (username, address) => record.recordSuccess(username, address),
    },
    configureThrottle(next) {
      if (next !== undefined) Object.assign(settings, next);
    },
  };
}

/**
 * The primary's record: answers the workers from its stores, and remembers which worker holds
 * each slot and claim, so a worker that dies gives its back.
 */
export class SharedStateHost {
  private readonly stores: HostStores;
  private readonly slots = new Map<number, { readonly worker: number; readonly slot: LimitSlot }>();
  private readonly claims = new Map<number, { readonly worker: number; readonly release: () => void }>();
  private nextId = 1;
  /** Bumped when a worker is gone: an answer that arrives later for it is given back at once. */
  private readonly lives = new Map<number, number>();

  constructor(throttle: Omit<FailureLogOptions, "now"> | undefined, now: () => number = Date.now, stores?: HostStores) {
    this.stores = stores ?? memoryStores(throttle, now);
  }

  /** New throttle limits from a reload; what was recorded stays. */
  configure(throttle: Omit<FailureLogOptions, "now"> | undefined): void {
    this.stores.configureThrottle(throttle);
  }

  /** Answers a worker's request (a promise when the store answers later); undefined when `body` is not one of these. */
  answer(worker: number, body: Message): AcquireReply | AdmitReply | Promise<AcquireReply | AdmitReply> | undefined {
    if (body.type === "acquire") {
      const { identity, ip, maxPerIdentity, maxPerIp } = body as AcquireRequest;
      const slot = this.stores.limits.tryAcquire(identity, ip, maxPerIdentity, maxPerIp);
      if (!(slot instanceof Promise)) return this.slotReply(worker, slot);
      const life = this.lifeOf(worker);
      return slot.then((ready) => {
        if (typeof ready === "string" || this.lifeOf(worker) === life) return this.slotReply(worker, ready);
        this.stores.limits.release(ready); // nobody is left to hear the answer
        return { exceeded: "limit_store_unavailable" };
      });
    }
    if (body.type === "admit") {
      const { username, address } = body as AdmitRequest;
      const admission = this.stores.throttle.admit(username, address);
      if (!(admission instanceof Promise)) return this.admitReply(worker, admission);
      const life = this.lifeOf(worker);
      return admission.then((ready) => {
        if (ready.throttledBy !== undefined || this.lifeOf(worker) === life) return this.admitReply(worker, ready);
        ready.release();
        return { claim: 0 };
      });
    }
    return undefined;
  }

  private lifeOf(worker: number): number {
    return this.lives.get(worker) ?? 0;
  }

  private slotReply(worker: number, slot: LimitSlot | LimitExceeded): AcquireReply {
    if (typeof slot === "string") return { exceeded: slot };
    const id = this.nextId++;
    this.slots.set(id, { worker, slot });
    return { slot: id };
  }

  private admitReply(worker: number, admission: ThrottleAdmission): AdmitReply {
    if (admission.throttledBy !== undefined) return { throttledBy: admission.throttledBy };
    // Usually nothing is claimed (the username is not blocked): then no `unclaim` note follows.
    if (admission === NOTHING_CLAIMED) return { claim: 0 };
    const id = this.nextId++;
    this.claims.set(id, { worker, release: () => admission.release() });
    return { claim: id };
  }

  /** Applies a worker's note; false when `body` is not one of these. */
  apply(body: Message): boolean {
    const note = body as SharedStateNote;
    switch (note.type) {
      case "release": {
        const held = this.slots.get(note.slot);
        if (held === undefined) return true;
        this.slots.delete(note.slot);
        this.stores.limits.release(held.slot);
        return true;
      }
      case "unclaim":
        this.claims.get(note.claim)?.release();
        this.claims.delete(note.claim);
        return true;
      case "auth_failure":
        this.stores.throttle.recordFailure(note.username, note.address);
        return true;
      case "auth_success":
        this.stores.throttle.recordSuccess(note.username, note.address);
        return true;
      default:
        return false;
    }
  }

  /** A worker is gone: its slots and claims are given back. */
  forgetWorker(worker: number): void {
    this.lives.set(worker, this.lifeOf(worker) + 1);
    for (const [id, held] of this.slots) {
      if (held.worker !== worker) continue;
      this.slots.delete(id);
      this.stores.limits.release(held.slot);
    }
    for (const [id, claim] of this.claims) {
      if (claim.worker !== worker) continue;
      this.claims.delete(id);
      claim.release();
    }
  }

  /** Open sessions counted for an identity or an IP in the primary's memory (diagnostics; 0 with Redis). */
  count(kind: "identity" | "ip", key: string): number {
    return this.stores.limits instanceof ConnectionLimits ? this.stores.limits.count(kind, key) : 0;
  }
}
