import type { AddressInfo } from "node:net";
import type { AuthProvider, Authenticator } from "./auth/contract.js";
import { AuthPipeline } from "./auth/pipeline.js";
import { AuthConfigError, resolvePipelineOptions } from "./auth/pipeline-options.js";
import type { DnsOptions } from "./dns/options.js";
import { DnsResolver } from "./dns/resolver.js";
import type { AuthChainEntry, AuthPipelineOptions } from "./auth/pipeline-options.js";
import { pipelineOptionsFromSettings } from "./auth/pipeline-settings.js";
import type { AuthPipelineSettings } from "./auth/pipeline-settings.js";
import { UnauthenticatedSessions } from "./listener/admission.js";
import { ConnectionLimit } from "./listener/connection-limit.js";
import { fdBudget, readSoftFdLimit } from "./listener/fd-budget.js";
import type { FdBudget } from "./listener/fd-budget.js";
import { Listener } from "./listener/listener.js";
import type { SharedAdmission } from "./listener/listener.js";
import { ListenerConfigError, resolveListenerOptions } from "./listener/options.js";
import type { ListenerOptions, ResolvedListenerOptions } from "./listener/options.js";
import { silentLogger } from "./log.js";
import { compileListenerPolicies } from "./policy/compile.js";
import type { CompiledPolicy } from "./policy/compile.js";
import { ConnectionLimits } from "./policy/limits.js";
import type { ConnectionLimiter } from "./policy/limits.js";
import type { FailureThrottleStore } from "./auth/failure-throttle.js";
import type { PolicyOptions } from "./policy/options.js";
import type { Logger } from "./log.js";
import type { HostResolver, ProxyHooks } from "./session/context.js";
import { guardHooks } from "./session/guarded-hooks.js";
import { HandshakeFailureSummary } from "./session/handshake-failures.js";
import { LiveSessions } from "./session/live-sessions.js";
import type { SessionPage, SessionQuery, SessionSelector } from "./session/live-sessions.js";
import { ProxyStats } from "./stats.js";
import { systemClock } from "./util/clock.js";
import type { EngineClock } from "./util/clock.js";
import { TimerWheel } from "./util/timer-wheel.js";
import type { SpliceBackend } from "./relay/splice.js";
import type { UdpAssociationInfo } from "./udp/association.js";

/**
 * One provider or a chain of them behind an AuthPipeline, or any Authenticator (used as it is).
 * No provider at all denies every username/password attempt (`no_provider`).
 */
export type AuthOptions =
  | (AuthPipelineSettings & { readonly provider?: AuthProvider; readonly chain?: never })
  | (AuthPipelineSettings & { readonly chain: readonly AuthChainEntry[]; readonly provider?: never })
  | Authenticator;

/**
 * State that must be exact across processes (`workers`): where connection-limit slots are
 * counted and where the failure throttle's record lives. Default: in this process.
 */
export interface SharedState {
  readonly limits: ConnectionLimiter;
  readonly throttle: FailureThrottleStore;
}

/** What createProxyServer needs: listeners, auth, and optionally a logger, hooks and a resolver. */
export interface ProxyServerOptions {
  readonly listeners: readonly ListenerOptions[];
  readonly auth?: AuthOptions;
  readonly logger?: Logger;
  /** Observers; one that throws is logged (rate-limited) and counted in `stats.hookErrors`, never fatal. */
  readonly hooks?: ProxyHooks;
  /**
   * How host names in CONNECT requests are resolved (see DnsResolver): the hosts file, then
   * name servers (default: /etc/resolv.conf's) without the libuv threadpool.
   */
  readonly dns?: DnsOptions;
  /** A resolver of your own instead (`dns` is then unused). */
  readonly resolveHost?: HostResolver;
  /**
   * Authorization rules for every request (see docs/policy.md). Absent, and no listener has
   * its own `policy`: everything is allowed, as KumoMTA does.
   */
  readonly policy?: PolicyOptions;
  /**
   * The soft fd limit the connection budget is derived from; default: read from
   * /proc/self/limits (1024 assumed when unreadable). See fd-budget.ts for the formula.
   */
  readonly softFdLimit?: number;
  /**
   * Handshakes that fail before authentication are logged at debug; every this many ms one
   * `handshake_failures` info line counts them by reason (none when there were none). Default 10 s.
   */
  readonly handshakeFailureSummaryMs?: number;
  /** Connection limits and the failure throttle kept elsewhere (the `workers` primary); default: this process. */
  readonly sharedState?: SharedState;
  /**
   * The time deadlines and windows are measured on: handshake, step, connect, idle, FIN-wait
   * and linger deadlines, the auth cache's TTLs and the failure throttle's windows, the
   * handshake_failures summary. Default: the system clock. Tests pass a ManualClock and
   * advance it instead of waiting. (DNS and provider deadlines stay on real timers.)
   */
  readonly clock?: EngineClock;
  /**
   * Moves established plain-TCP tunnels kernel to kernel (splice(2)), such as `nativeRelay` from
   * @gatehouse-proxy/relay-native when it is available. Absent: the JS relay carries every
   * tunnel. TLS listeners always use the JS relay.
   */
  readonly splice?: SpliceBackend;
}

/** What a reconfigure leaves behind. */
export interface Reconfigured {
  /**
   * Resolves once every auth call that started on the previous provider chain has settled
   * (or its deadline passed): only then may the old providers be closed. Never rejects.
   */
  readonly authSettled: Promise<void>;
}

/** What a revocation ended and forgot. */
export interface Revoked {
  readonly sessions: number;
  readonly cachedDecisions: number;
}

/** A running (or startable) SOCKS5 proxy: its listeners, sessions and auth. */
export interface ProxyServer {
  start(): Promise<void>;
  /**
   * Applies new listeners and auth without dropping established tunnels: unchanged listeners
   * stay (a TLS listener re-reads its certificate and key files and serves new ones to new
   * connections), removed ones stop accepting (their tunnels run on), new ones open; new
   * sessions use the new auth. The auth pipeline lives on: its throttle record survives, and
   * so do cached decisions of providers whose fingerprint is unchanged. On failure (a port
   * cannot be bound, a certificate cannot be read) the old configuration stays in force.
   */
  reconfigure(next: {
    readonly listeners: readonly ListenerOptions[];
    readonly auth?: AuthOptions;
    readonly policy?: PolicyOptions;
    readonly dns?: DnsOptions;
  }): Promise<Reconfigured>;
  /** Stops accepting; waits up to `drainMs` (default 0) for sessions to end, then ends the rest. */
  close(options?: { readonly drainMs?: number }): Promise<void>;
  /** The bound address of each listener, in configuration order (after start). */
  addresses(): AddressInfo[];
  /**
   * A revocation of `identity`: its live sessions end now (session_end reason `revoked`, on
   * every listener, retired ones too) and its cached allows are forgotten, so its next login
   * asks the providers. Returns how many of each.
   */
  revoke(identity: string): Revoked;
  /**
   * The live sessions past the anonymous part of the handshake (authenticated, or a request
   * made), in the order they were accepted, filtered and paged (the operator's view).
   */
  listSessions(query: SessionQuery): SessionPage;
  /** Ends the selected sessions (session_end reason `closed_by_admin`); returns how many. */
  closeSessions(selector: SessionSelector): number;
  /** The live UDP associations of every listener (retired ones too). */
  udpAssociations(): UdpAssociationInfo[];
  readonly stats: ProxyStats;
  /** The resolver sessions use (the current `dns` settings, or the `resolveHost` given). */
  readonly resolveHost: HostResolver;
}

/** Creates a SOCKS5 proxy over the given listeners; call `start()` to bind them. Throws ListenerConfigError or AuthConfigError for bad options. */
export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  const resolved = resolveAllListeners(options.listeners);
  const policies = listenerPolicies(options.policy, options.listeners);
  const limits = options.sharedState?.limits ?? new ConnectionLimits();
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const authState = new AuthState(options.auth, clock.now, options.sharedState?.throttle);
  const auth = authState.current;
  const stats = new ProxyStats();
  const budget = fdBudget(
    options.softFdLimit === undefined ? readSoftFdLimit() : { limit: options.softFdLimit, source: "option" },
  );
  stats.connectionBudget = budget.maxConnections;
  const admission = sharedAdmission(budget, stats, logger);
  const hooks = guardHooks(options.hooks ?? {}, logger, stats);
  const wheel = new TimerWheel(undefined, undefined, clock);
  const live = new LiveSessions(clock.now);
  const handshakeFailures = new HandshakeFailureSummary(
    logger,
    summaryInterval(options.handshakeFailureSummaryMs),
    clock.every,
  );
  /** Swapped by a reload; lookups already waiting finish on the resolver they started on. */
  const dns = { current: new DnsResolver(options.dns) };
  const resolveHost: HostResolver =
    options.resolveHost ?? ((host, lookupOptions) => dns.current.lookup(host, lookupOptions));
  const newListener = (listenerOptions: ResolvedListenerOptions, policy: CompiledPolicy | undefined): Listener =>
    new Listener(
      {
        policy: { current: policy },
        limits,
        options: listenerOptions,
        auth,
        logger: logger.child({ listener: listenerOptions.name }),
        wheel,
        stats,
        resolveHost,
        hooks,
        handshakeFailures,
        splice: options.splice,
        live,
      },
      admission,
    );
  let active = new Map(
    keyedListeners(resolved).map(
      ([key, listenerOptions], index) => [key, newListener(listenerOptions, policies[index])] as const,
    ),
  );
  /** Listeners removed by a reload whose sessions have not all ended yet. */
  const retired = new Set<Listener>();
  const retire = (listener: Listener): void => {
    retired.add(listener);
    stats.retiredListeners = retired.size;
    void listener.drained().then(() => {
      retired.delete(listener);
      stats.retiredListeners = retired.size;
      logger.info(
        { event: "listener_retired", listener: listener.name, retired_listeners: retired.size },
        "a listener removed by a reload ended its last session and is gone",
      );
    });
  };
  let started = false;
  const everyListener = (): Listener[] => [...active.values(), ...retired];

  return {
    stats,
    resolveHost,
    async start() {
      if (started) throw new Error("proxy server already started");
      started = true;
      logBudget(budget, logger);
      warnOverBudget(resolved, budget, logger);
      handshakeFailures.start();
      try {
        for (const listener of active.values()) await listener.start();
      } catch (error) {
        for (const listener of active.values()) listener.close();
        throw error;
      }
    },
    async reconfigure(next) {
      const nextResolved = resolveAllListeners(next.listeners);
      const nextPolicies = listenerPolicies(next.policy, next.listeners);
      const commitAuth = authState.prepare(next.auth);
      const nextDns = new DnsResolver(next.dns);
      const nextActive = new Map<string, Listener>();
      const added: Listener[] = [];
      const policyOf = new Map<Listener, CompiledPolicy | undefined>();
      for (const [index, [key, listenerOptions]] of keyedListeners(nextResolved).entries()) {
        const kept = active.get(key);
        if (kept !== undefined) {
          nextActive.set(key, kept);
          policyOf.set(kept, nextPolicies[index]);
          continue;
        }
        const listener = newListener(listenerOptions, nextPolicies[index]);
        nextActive.set(key, listener);
        added.push(listener);
      }
      const removed = [...active.entries()].filter(([key]) => !nextActive.has(key)).map(([, listener]) => listener);
      // Certificates rotated at the same path: read and checked before anything changes.
      const tlsUpdates = await Promise.all([...policyOf.keys()].map((listener) => listener.reloadTls()));
      const started: Listener[] = [];
      const rollBack = (): void => {
        for (const listener of started) listener.close();
      };
      // A new listener on the port of one being removed can only bind once that one stops.
      const waiting: Listener[] = [];
      for (const listener of added) {
        try {
          await listener.start();
          started.push(listener);
        } catch (error) {
          if (!isAddressInUse(error) || !removed.some((old) => sameAddress(old, listener))) {
            rollBack();
            throw error;
          }
          waiting.push(listener);
        }
      }
      for (const listener of removed) listener.stopAccepting();
      try {
        for (const listener of waiting) {
          await listener.start();
          started.push(listener);
        }
      } catch (error) {
        rollBack();
        for (const listener of removed) {
          await listener.start(); // its own fixed port, just released by the listener that failed
        }
        throw error;
      }
      for (const listener of removed) retire(listener);
      active = nextActive;
      dns.current = nextDns;
      for (const apply of tlsUpdates) apply?.();
      for (const [listener, policy] of policyOf) listener.setPolicy(policy);
      warnOverBudget(nextResolved, budget, logger);
      return { authSettled: commitAuth() };
    },
    async close(closeOptions = {}) {
      for (const listener of everyListener()) listener.stopAccepting();
      const deadline = Date.now() + (closeOptions.drainMs ?? 0);
      while (Date.now() < deadline && everyListener().some((listener) => listener.sessionCount > 0)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (const listener of everyListener()) listener.destroySessions("server_shutdown");
      dns.current.close();
      wheel.stop();
      handshakeFailures.stop();
    },
    addresses() {
      return [...active.values()].map((listener) => listener.address());
    },
    listSessions(query) {
      return live.list(query);
    },
    closeSessions(selector) {
      return live.close(selector, CLOSED_BY_ADMIN);
    },
    udpAssociations() {
      return everyListener().flatMap((listener) => listener.udpAssociations());
    },
    revoke(identity) {
      const cachedDecisions = authState.forgetIdentity(identity);
      let sessions = 0;
      for (const listener of everyListener()) sessions += listener.destroySessionsOf(identity, "revoked");
      logger.info(
        { event: "revoked", identity, sessions, cached_decisions: cachedDecisions },
        `revoked ${identity}: ${String(sessions)} sessions ended`,
      );
      return { sessions, cachedDecisions };
    },
  };
}

/** The session_end reason of sessions an operator closed (docs/errors.md). */
export const CLOSED_BY_ADMIN = "closed_by_admin";

/** The fd-derived budget every listener without its own `max_connections` shares. */
function sharedAdmission(budget: FdBudget, stats: ProxyStats, logger: Logger): SharedAdmission {
  const unauthenticated = new UnauthenticatedSessions();
  const handshaking = { count: 0 };
  return {
    unauthenticated,
    handshaking,
    budget: new ConnectionLimit({
      limit: budget.maxConnections,
      reason: "fd_reserve",
      open: () => stats.activeConnections + handshaking.count,
      unauthenticated,
      stats,
      logger,
      details: { fd_limit: budget.limit, fd_reserve: budget.reserve },
    }),
  };
}

function logBudget(budget: FdBudget, logger: Logger): void {
  const fields = {
    event: "connection_budget",
    fd_limit: budget.limit,
    fd_limit_source: budget.source,
    fd_reserve: budget.reserve,
    max_connections: budget.maxConnections,
  };
  if (budget.source === "fallback") {
    logger.warn(
      fields,
      "cannot read the fd limit from /proc/self/limits: assuming 1024; set max_connections per listener",
    );
  } else {
    logger.info(fields, "connection budget derived from the fd limit");
  }
}

/**
 * Explicit `max_connections` win over the fd-derived budget; when together they promise more
 * connections than the fd limit can hold, say so (the process would run out of descriptors
 * before reaching them, and EMFILE sheds connections silently).
 */
function warnOverBudget(listeners: readonly ResolvedListenerOptions[], budget: FdBudget, logger: Logger): void {
  if (budget.maxConnections === 0) return;
  const explicit = listeners.filter((listener) => listener.maxConnections > 0);
  const total = explicit.reduce((sum, listener) => sum + listener.maxConnections, 0);
  if (total <= budget.maxConnections) return;
  logger.warn(
    {
      event: "max_connections_over_fd_budget",
      listeners: Object.fromEntries(explicit.map((listener) => [listener.name, listener.maxConnections])),
      total,
      fd_limit: budget.limit,
      fd_reserve: budget.reserve,
      budget: budget.maxConnections,
    },
    `max_connections (${String(total)} in all) exceeds what the fd limit can hold (${String(budget.maxConnections)}): raise the fd limit (ulimit -n) or lower max_connections`,
  );
}

function summaryInterval(ms: number | undefined): number | undefined {
  if (ms === undefined) return undefined;
  if (!Number.isFinite(ms) || ms < 1) {
    throw new ListenerConfigError([`handshakeFailureSummaryMs: expected a positive number of ms, got ${String(ms)}`]);
  }
  return ms;
}

function listenerPolicies(
  policy: PolicyOptions | undefined,
  listeners: readonly ListenerOptions[],
): (CompiledPolicy | undefined)[] {
  return compileListenerPolicies(
    policy,
    listeners.map((listener) => listener.policy),
  );
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE";
}

function sameAddress(a: Listener, b: Listener): boolean {
  return a.host === b.host && a.port === b.port;
}

function resolveAllListeners(listeners: readonly ListenerOptions[]): ResolvedListenerOptions[] {
  if (listeners.length === 0) throw new ListenerConfigError(["listeners: at least one listener is required"]);
  const problems: string[] = [];
  const resolved = listeners.flatMap((listener, index) => {
    try {
      return [resolveListenerOptions(listener, `listeners[${String(index)}]`)];
    } catch (error) {
      if (!(error instanceof ListenerConfigError)) throw error;
      problems.push(...error.problems);
      return [];
    }
  });
  if (problems.length > 0) throw new ListenerConfigError(problems);
  return resolved;
}

/**
 * Two listeners are the same when every resolved option is; identical ones (say, two on
 * port 0) are told apart by their order.
 */
function keyedListeners(listeners: readonly ResolvedListenerOptions[]): [string, ResolvedListenerOptions][] {
  const seen = new Map<string, number>();
  return listeners.map((options) => {
    const base = JSON.stringify(options);
    const occurrence = (seen.get(base) ?? 0) + 1;
    seen.set(base, occurrence);
    return [`${base}#${String(occurrence)}`, options];
  });
}

/**
 * The server's one AuthPipeline, kept for the life of the process so that its throttle and
 * cache outlive reloads; or a caller's own Authenticator, used as it is.
 */
class AuthState {
  readonly current: { current: Authenticator };
  private pipeline: AuthPipeline | undefined;

  constructor(
    auth: AuthOptions | undefined,
    /** The clock of the pipeline's cache TTLs and throttle windows. */
    private readonly now: () => number,
    private readonly sharedThrottle: FailureThrottleStore | undefined,
  ) {
    const initial = pipelineOptionsOf(auth, now);
    if (initial === undefined) {
      this.current = { current: auth as Authenticator };
      return;
    }
    this.pipeline = withAuthPrefix(() => new AuthPipeline(initial, sharedThrottle));
    this.current = { current: this.pipeline };
  }

  /** Forgets the cached allows of `identity`; returns how many. */
  forgetIdentity(identity: string): number {
    return this.pipeline?.forgetIdentity(identity) ?? 0;
  }

  /** Validates `auth` (throws AuthConfigError) and returns what applies it. */
  prepare(auth: AuthOptions | undefined): () => Promise<void> {
    const options = pipelineOptionsOf(auth, this.now);
    if (options === undefined) {
      return () => {
        this.current.current = auth as Authenticator;
        // The pipeline's providers are no longer asked: they retire with an empty chain.
        return this.pipeline?.reconfigure({ chain: [] }) ?? Promise.resolve();
      };
    }
    withAuthPrefix(() => resolvePipelineOptions(options));
    return () => {
      if (this.pipeline === undefined) {
        this.pipeline = new AuthPipeline(options, this.sharedThrottle);
        this.current.current = this.pipeline;
        return Promise.resolve();
      }
      this.current.current = this.pipeline;
      return this.pipeline.reconfigure(options);
    };
  }
}

/** The pipeline's options, or undefined when `auth` is an Authenticator of the caller's own. */
function pipelineOptionsOf(auth: AuthOptions | undefined, now: () => number): AuthPipelineOptions | undefined {
  if (auth === undefined) return { chain: [], now };
  if ("decide" in auth) return undefined;
  return { ...toPipelineOptions(auth), now };
}

function withAuthPrefix<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof AuthConfigError) throw new AuthConfigError(error.problems.map((problem) => `auth.${problem}`));
    throw error;
  }
}

/** The chain as given (one provider or a list), with the settings validated and in milliseconds. */
function toPipelineOptions(auth: Exclude<AuthOptions, Authenticator>): AuthPipelineOptions {
  const untyped: { readonly chain?: unknown; readonly provider?: unknown } = auth; // plain JavaScript may pass both
  if (untyped.chain !== undefined && untyped.provider !== undefined) {
    throw new AuthConfigError(["auth: give either provider or chain, not both"]);
  }
  const chain = auth.chain ?? (auth.provider === undefined ? [] : [{ provider: auth.provider }]);
  return pipelineOptionsFromSettings(auth, chain);
}
