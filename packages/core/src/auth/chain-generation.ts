import type { AuthDecision, AuthProvider } from "./contract.js";
import type { ResolvedPipelineOptions } from "./pipeline-options.js";
import { Semaphore } from "../util/semaphore.js";

/** How long a retired chain's calls get beyond their deadline to notice the abort and settle. */
export const RETIRE_GRACE_MS = 1000;

export interface ChainMember {
  readonly provider: AuthProvider;
  readonly onError: "deny" | "next";
  readonly limiter: Semaphore;
  readonly fingerprint: string;
}

let nextGenerationId = 0;

/**
 * One provider chain as configured at one time, with the deadline its calls run under and a
 * count of the work still running on it, so that a reload can close its providers only once
 * they are no longer in use.
 */
export class ChainGeneration {
  readonly id = ++nextGenerationId;
  readonly members: readonly ChainMember[];
  readonly timeoutMs: number;
  /** Whether a provider in the chain may decide on conn_meta: then it is part of the cache key. */
  readonly keyIncludesConnection: boolean;
  /** What a bad-credentials denial depends on: every member, in order, with its error handling. */
  readonly chainFingerprint: string;
  /** The sources (see DecisionCache) whose cached decisions this chain would still make. */
  readonly sources: ReadonlySet<string>;
  private active = 0;
  private onIdle: (() => void) | undefined;

  constructor(resolved: ResolvedPipelineOptions) {
    this.members = resolved.chain.map((entry) => ({
      provider: entry.provider,
      onError: entry.onError,
      limiter: new Semaphore(entry.maxConcurrent, { maxQueue: entry.maxQueue }),
      fingerprint: entry.fingerprint,
    }));
    this.timeoutMs = resolved.timeoutMs;
    this.keyIncludesConnection = resolved.chain.some((entry) => entry.provider.usesConnMeta === true);
    this.chainFingerprint = `chain:${JSON.stringify(this.members.map((member) => [member.fingerprint, member.onError]))}`;
    this.sources = new Set([this.chainFingerprint, ...this.members.map((member) => member.fingerprint)]);
  }

  /** Marks work on this chain; call the returned function exactly once when it is done. */
  enter(): () => void {
    this.active++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.active--;
      if (this.active === 0) this.onIdle?.();
    };
  }

  /**
   * An allow depends on the provider that gave it; a denial for bad credentials on the whole
   * chain (a provider added later might have said yes).
   */
  sourceOf(decision: AuthDecision): string {
    if (!decision.allowed) return this.chainFingerprint;
    const deciders = this.members.filter((member) => member.provider.name === decision.provider);
    return deciders.length === 1 ? deciders[0]!.fingerprint : this.chainFingerprint;
  }

  /**
   * Resolves once no work runs on this chain, or when the longest a chain run may take (every
   * member's deadline, plus a grace) has passed since retirement.
   */
  retire(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(finish, this.timeoutMs * Math.max(1, this.members.length) + RETIRE_GRACE_MS);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.onIdle = finish;
    });
  }
}
