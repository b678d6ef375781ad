import { performance } from "node:perf_hooks";
import type { AuthDecision, AuthRequest, Authenticator } from "./contract.js";
import { CredentialKeyer } from "./credential-key.js";
import { DecisionCache } from "./decision-cache.js";
import { FailureThrottle } from "./failure-throttle.js";
import type { FailureThrottleStore } from "./failure-throttle.js";
import type { FailureLogOptions } from "./failure-log.js";
import { clientAddress } from "./client-address.js";
import { CALLER_ABORTED, InFlight } from "./in-flight.js";
import { ChainGeneration } from "./chain-generation.js";
import type { ChainMember } from "./chain-generation.js";
import { resolvePipelineOptions } from "./pipeline-options.js";
import type { AuthPipelineOptions, ResolvedPipelineOptions } from "./pipeline-options.js";
import { askProvider, describeError } from "./provider-authenticator.js";
import { acquireSlot } from "./provider-slot.js";
import type { SlotOutcome } from "./provider-slot.js";
import { redactSecret } from "./redact.js";

const NO_PROVIDER: AuthDecision = { allowed: false, reason: "no_provider" };
const NEVER_ABORTED = new AbortController().signal;
const ABORTED: AuthDecision = { allowed: false, reason: "aborted", detail: "the caller left before a decision" };

type ThrottleSettings = { -readonly [K in keyof FailureLogOptions]: FailureLogOptions[K] };

/**
 * Everything between the session and the providers (DESIGN §4): failure throttling, the
 * decision cache, coalescing of identical attempts, and the provider chain with a deadline
 * and a concurrency cap per provider. Never rejects.
 *
 * It lives as long as the process: `reconfigure` swaps the chain and the settings while the
 * throttle's record and the cached decisions of unchanged providers stay.
 */
export class AuthPipeline implements Authenticator {
  private generation: ChainGeneration;
  private readonly now: () => number;
  private readonly keyer = new CredentialKeyer();
  private cache: DecisionCache | undefined;
  private throttle: FailureThrottleStore | undefined;
  /**
   * The throttle reads its settings from this object at every call, so a reload can change
   * them without forgetting who failed.
   */
  private throttleSettings: ThrottleSettings | undefined;
  private readonly inFlight = new InFlight<AuthDecision>();
  /** `reusable: false` decisions already handed to an attempt: coalesced waiters must not share them. */
  private readonly claimedOneTimeDecisions = new WeakSet<AuthDecision>();

  /**
   * `sharedThrottle`: keep the failure record there instead of in this process (the `workers`
   * primary's); its windows and limits are the store's. The pipeline still decides, from its
   * own options, whether to throttle at all.
   */
  constructor(
    options: AuthPipelineOptions,
    private readonly sharedThrottle?: FailureThrottleStore,
  ) {
    const resolved = resolvePipelineOptions(options);
    this.now = resolved.now;
    this.generation = new ChainGeneration(resolved);
    this.applySettings(resolved);
  }

  /**
   * Swaps in a new chain and settings; throws an AuthConfigError (and changes nothing) when
   * the options are invalid. Attempts already running finish on the old chain. Throttle state
   * is kept (with the new limits); cached decisions are kept for providers whose fingerprint
   * is unchanged. The promise resolves once every call on the old chain has settled, or its
   * deadline (plus a grace for the provider to notice the abort) has passed: then the old
   * providers may be closed. It never rejects.
   */
  /** A revocation: the cached allows of `identity` are forgotten; returns how many. */
  forgetIdentity(identity: string): number {
    return this.cache?.forgetIdentity(identity) ?? 0;
  }

  reconfigure(options: AuthPipelineOptions): Promise<void> {
    const resolved = resolvePipelineOptions(options);
    const previous = this.generation;
    this.generation = new ChainGeneration(resolved);
    this.applySettings(resolved);
    if (this.cache !== undefined) {
      if (previous.keyIncludesConnection !== this.generation.keyIncludesConnection) {
        this.cache.retainSources(new Set());
      } else {
        this.cache.retainSources(this.generation.sources);
      }
    }
    return previous.retire();
  }

  /** Cached decisions (for tests and diagnostics). */
  get cachedDecisions(): number {
    return this.cache?.size ?? 0;
  }

  async decide(request: AuthRequest, signal?: AbortSignal): Promise<AuthDecision> {
    try {
      return await this.decideUnguarded(request, signal);
    } catch (error) {
      return { allowed: false, reason: "backend_error", detail: redactSecret(describeError(error), request.password) };
    }
  }

  private applySettings(resolved: ResolvedPipelineOptions): void {
    if (resolved.cache === undefined) this.cache = undefined;
    else if (this.cache === undefined) this.cache = new DecisionCache({ ...resolved.cache, now: this.now });
    else this.cache.configure(resolved.cache);
    if (resolved.throttle === undefined) {
      this.throttle = undefined;
      this.throttleSettings = undefined;
    } else if (this.sharedThrottle !== undefined) {
      this.throttle = this.sharedThrottle;
    } else if (this.throttleSettings === undefined) {
      this.throttleSettings = { ...resolved.throttle, now: this.now };
      this.throttle = new FailureThrottle(this.throttleSettings);
    } else {
      Object.assign(this.throttleSettings, resolved.throttle);
    }
  }

  private async decideUnguarded(request: AuthRequest, signal: AbortSignal | undefined): Promise<AuthDecision> {
    const generation = this.generation;
    if (generation.members.length === 0) return NO_PROVIDER;
    if (signal?.aborted === true) return ABORTED;
    // Before the cache too: a blocked client must not be able to test guesses against it.
    if (this.throttle === undefined) return this.decideAdmitted(request, generation, signal);
    const pending = this.throttle.admit(request.username, clientAddress(request.connMeta.peer_address));
    const admission = pending instanceof Promise ? await pending : pending;
    if (admission.throttledBy !== undefined) {
      const detail =
        admission.throttledBy === "username"
          ? "too many failed attempts for this username; this client address failed for it or has an attempt in flight"
          : "too many failed attempts from this client address";
      return { allowed: false, reason: "throttled", detail };
    }
    try {
      return await this.decideAdmitted(request, generation, signal);
    } finally {
      admission.release();
    }
  }

  private async decideAdmitted(
    request: AuthRequest,
    generation: ChainGeneration,
    signal: AbortSignal | undefined,
  ): Promise<AuthDecision> {
    const key = this.keyOf(request, generation);
    const cached = this.cache?.get(key);
    const decision =
      cached !== undefined ? { ...cached, cached: true } : await this.askChain(generation, key, request, signal);
    if (decision === CALLER_ABORTED) return ABORTED;
    this.countOutcome(request, decision);
    return decision;
  }

  /**
   * Identical attempts in flight share one chain call, unless an answer may be a one-time one:
   * a chain with a provider that opted out of reuse is asked by every attempt itself, and a
   * `reusable: false` decision goes to one of the attempts that shared a call; the others ask again.
   */
  private async askChain(
    generation: ChainGeneration,
    key: string,
    request: AuthRequest,
    signal: AbortSignal | undefined,
  ): Promise<AuthDecision | typeof CALLER_ABORTED> {
    const alone = (): Promise<AuthDecision> =>
      this.runChainAndRemember(generation, key, request, signal ?? NEVER_ABORTED);
    if (generation.members.some(({ provider }) => provider.reusable === false)) return alone();
    const decision = await this.inFlight.join(
      // Attempts on different chains are different questions.
      `${String(generation.id)}:${key}`,
      (shared) => this.runChainAndRemember(generation, key, request, shared),
      signal,
    );
    if (decision === CALLER_ABORTED || decision.reusable !== false) return decision;
    return this.claimOneTimeDecision(decision) ? decision : alone();
  }

  /** True for the first attempt that receives a `reusable: false` decision, false for any other. */
  private claimOneTimeDecision(decision: AuthDecision): boolean {
    if (this.claimedOneTimeDecisions.has(decision)) return false;
    this.claimedOneTimeDecisions.add(decision);
    return true;
  }

  private keyOf({ username, password, connMeta }: AuthRequest, generation: ChainGeneration): string {
    if (!generation.keyIncludesConnection) return this.keyer.keyOf(username, password);
    // The client IP, not its port: a new port per connection would defeat the cache entirely.
    return this.keyer.keyOf(username, password, clientAddress(connMeta.peer_address), connMeta.local_address);
  }

  /** The shared work behind every identical attempt in flight: done once, remembered once. */
  private async runChainAndRemember(
    generation: ChainGeneration,
    key: string,
    request: AuthRequest,
    signal: AbortSignal,
  ): Promise<AuthDecision> {
    const done = generation.enter();
    try {
      const decision = await this.runChain(generation, request, signal);
      // A chain retired meanwhile may have been answered by a provider that is gone now.
      if (generation === this.generation) this.cache?.remember(key, decision, generation.sourceOf(decision));
      return decision;
    } finally {
      done();
    }
  }

  private async runChain(
    generation: ChainGeneration,
    request: AuthRequest,
    signal: AbortSignal,
  ): Promise<AuthDecision> {
    let lastDenial: AuthDecision | undefined;
    let firstSkippedError: AuthDecision | undefined;
    let oneTimeDenial = false;
    for (const member of generation.members) {
      if (signal.aborted) return ABORTED;
      const decision = await this.ask(generation, member, request, signal);
      if (decision.allowed) return decision;
      if (decision.reason === "bad_credentials") {
        lastDenial = decision;
        // The chain's denial rests on every member's: one that opted out of reuse taints it.
        oneTimeDenial ||= decision.reusable === false;
        continue;
      }
      if (decision.reason === "aborted" || member.onError === "deny") return decision;
      firstSkippedError ??= decision;
    }
    // A provider that could not answer might have said yes: "bad credentials" would be a guess,
    // so the error is the outcome (never cached, never counted against the client).
    if (firstSkippedError !== undefined) return firstSkippedError;
    if (lastDenial !== undefined && oneTimeDenial) return { ...lastDenial, reusable: false };
    return lastDenial ?? NO_PROVIDER;
  }

  /** One provider, one deadline: the wait for a concurrency slot counts against it. */
  private async ask(
    generation: ChainGeneration,
    member: ChainMember,
    request: AuthRequest,
    signal: AbortSignal,
  ): Promise<AuthDecision> {
    const { timeoutMs } = generation;
    const startedAt = performance.now();
    const slot = await acquireSlot(member.limiter, signal, timeoutMs);
    if (!slot.granted) return this.refusal(slot, member, timeoutMs);
    const remainingMs = Math.max(1, timeoutMs - (performance.now() - startedAt));
    // The provider's own promise may outlive the deadline: the chain counts as busy until it settles.
    const done = generation.enter();
    const onSettled = (): void => {
      slot.release();
      done();
    };
    return askProvider(member.provider, request, { timeoutMs: remainingMs, signal, onSettled });
  }

  private refusal(
    slot: Extract<SlotOutcome, { granted: false }>,
    member: ChainMember,
    timeoutMs: number,
  ): AuthDecision {
    const { provider, limiter } = member;
    switch (slot.why) {
      case "aborted":
        return ABORTED;
      case "queue_full":
        return {
          allowed: false,
          reason: "overloaded",
          provider: provider.name,
          detail: `${String(limiter.active)} calls in flight and ${String(limiter.queued)} waiting`,
        };
      case "wait_timeout":
        return {
          allowed: false,
          reason: "overloaded",
          provider: provider.name,
          detail: `no free slot within ${String(timeoutMs)} ms`,
        };
    }
  }

  private countOutcome(request: AuthRequest, decision: AuthDecision): void {
    if (this.throttle === undefined) return;
    const address = clientAddress(request.connMeta.peer_address);
    if (decision.allowed) this.throttle.recordSuccess(request.username, address);
    else if (decision.reason === "bad_credentials") this.throttle.recordFailure(request.username, address);
  }
}
