import { performance } from "node:perf_hooks";
import { ConcurrencyLimiter } from "./concurrency-limiter.js";
import type { SlotOutcome } from "./concurrency-limiter.js";
import type { AuthDecision, AuthProvider, AuthRequest, Authenticator } from "./contract.js";
import { CredentialKeyer } from "./credential-key.js";
import { DecisionCache } from "./decision-cache.js";
import { FailureThrottle } from "./failure-throttle.js";
import { clientAddress } from "./client-address.js";
import { CALLER_ABORTED, InFlight } from "./in-flight.js";
import { resolvePipelineOptions } from "./pipeline-options.js";
import type { AuthPipelineOptions } from "./pipeline-options.js";
import { askProvider, describeError } from "./provider-authenticator.js";
import { redactSecret } from "./redact.js";

interface ChainMember {
  readonly provider: AuthProvider;
  readonly onError: "deny" | "next";
  readonly limiter: ConcurrencyLimiter;
}

const NO_PROVIDER: AuthDecision = { allowed: false, reason: "no_provider" };
const ABORTED: AuthDecision = { allowed: false, reason: "aborted", detail: "the caller left before a decision" };

/**
 * Everything between the session and the providers (DESIGN §4): failure throttling, the
 * decision cache, coalescing of identical attempts, and the provider chain with a deadline
 * and a concurrency cap per provider. Never rejects.
 */
export class AuthPipeline implements Authenticator {
  private readonly chain: readonly ChainMember[];
  private readonly timeoutMs: number;
  private readonly keyer = new CredentialKeyer();
  private readonly cache: DecisionCache | undefined;
  private readonly throttle: FailureThrottle | undefined;
  private readonly inFlight = new InFlight<AuthDecision>();
  /** Whether a provider in the chain may decide on conn_meta: then it is part of the key. */
  private readonly keyIncludesConnection: boolean;

  constructor(options: AuthPipelineOptions) {
    const resolved = resolvePipelineOptions(options);
    this.chain = resolved.chain.map((entry) => ({
      provider: entry.provider,
      onError: entry.onError,
      limiter: new ConcurrencyLimiter(entry.maxConcurrent, entry.maxQueue),
    }));
    this.keyIncludesConnection = resolved.chain.some((entry) => entry.provider.usesConnMeta === true);
    this.timeoutMs = resolved.timeoutMs;
    this.cache = resolved.cache && new DecisionCache({ ...resolved.cache, now: resolved.now });
    this.throttle = resolved.throttle && new FailureThrottle({ ...resolved.throttle, now: resolved.now });
  }

  async decide(request: AuthRequest, signal?: AbortSignal): Promise<AuthDecision> {
    try {
      return await this.decideUnguarded(request, signal);
    } catch (error) {
      return { allowed: false, reason: "backend_error", detail: redactSecret(describeError(error), request.password) };
    }
  }

  private async decideUnguarded(request: AuthRequest, signal: AbortSignal | undefined): Promise<AuthDecision> {
    if (this.chain.length === 0) return NO_PROVIDER;
    if (signal?.aborted === true) return ABORTED;
    // Before the cache too: a blocked client must not be able to test guesses against it.
    const throttledBy = this.throttle?.blockedBy(request.username, request.connMeta);
    if (throttledBy !== undefined) {
      const what = throttledBy === "username" ? "this username" : "this client address";
      return { allowed: false, reason: "throttled", detail: `too many failed attempts for ${what}` };
    }
    const key = this.keyOf(request);
    const cached = this.cache?.get(key);
    const decision =
      cached !== undefined
        ? { ...cached, cached: true }
        : await this.inFlight.join(key, (shared) => this.runChainAndRemember(key, request, shared), signal);
    if (decision === CALLER_ABORTED) return ABORTED;
    this.countOutcome(request, decision);
    return decision;
  }

  private keyOf({ username, password, connMeta }: AuthRequest): string {
    if (!this.keyIncludesConnection) return this.keyer.keyOf(username, password);
    // The client IP, not its port: a new port per connection would defeat the cache entirely.
    return this.keyer.keyOf(username, password, clientAddress(connMeta.peer_address), connMeta.local_address);
  }

  /** The shared work behind every identical attempt in flight: done once, remembered once. */
  private async runChainAndRemember(key: string, request: AuthRequest, signal: AbortSignal): Promise<AuthDecision> {
    const decision = await this.runChain(request, signal);
    this.cache?.remember(key, decision);
    return decision;
  }

  private async runChain(request: AuthRequest, signal: AbortSignal): Promise<AuthDecision> {
    let lastDenial: AuthDecision | undefined;
    let firstSkippedError: AuthDecision | undefined;
    for (const member of this.chain) {
      if (signal.aborted) return ABORTED;
      const decision = await this.ask(member, request, signal);
      if (decision.allowed) return decision;
      if (decision.reason === "bad_credentials") {
        lastDenial = decision;
        continue;
      }
      if (decision.reason === "aborted" || member.onError === "deny") return decision;
      firstSkippedError ??= decision;
    }
    // A provider that could not answer might have said yes: "bad credentials" would be a guess,
    // so the error is the outcome (never cached, never counted against the client).
    return firstSkippedError ?? lastDenial ?? NO_PROVIDER;
  }

  /** One provider, one deadline: the wait for a concurrency slot counts against it. */
  private async ask(member: ChainMember, request: AuthRequest, signal: AbortSignal): Promise<AuthDecision> {
    const startedAt = performance.now();
    const slot = await member.limiter.acquire(signal, this.timeoutMs);
    if (!slot.granted) return this.refusal(slot, member);
    const remainingMs = Math.max(1, this.timeoutMs - (performance.now() - startedAt));
    return askProvider(member.provider, request, { timeoutMs: remainingMs, signal, onSettled: slot.release });
  }

  private refusal(slot: Extract<SlotOutcome, { granted: false }>, member: ChainMember): AuthDecision {
    const { provider, limiter } = member;
    switch (slot.why) {
      case "aborted":
        return ABORTED;
      case "queue_full":
        return {
          allowed: false,
          reason: "overloaded",
          provider: provider.name,
          detail: `${String(limiter.inFlight)} calls in flight and ${String(limiter.queued)} waiting`,
        };
      case "wait_timeout":
        return {
          allowed: false,
          reason: "overloaded",
          provider: provider.name,
          detail: `no free slot within ${String(this.timeoutMs)} ms`,
        };
    }
  }

  private countOutcome(request: AuthRequest, decision: AuthDecision): void {
    if (this.throttle === undefined) return;
    if (decision.allowed) this.throttle.recordSuccess(request.username, request.connMeta);
    else if (decision.reason === "bad_credentials") this.throttle.recordFailure(request.username, request.connMeta);
  }
}
