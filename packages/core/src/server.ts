import { lookup } from "node:dns/promises";
import type { AddressInfo } from "node:net";
import type { AuthProvider, Authenticator } from "./auth/contract.js";
import { AuthPipeline } from "./auth/pipeline.js";
import { AuthConfigError } from "./auth/pipeline-options.js";
import type {
  AuthCacheOptions,
  AuthChainEntry,
  AuthPipelineOptions,
  AuthThrottleOptions,
} from "./auth/pipeline-options.js";
import { Listener } from "./listener/listener.js";
import { ListenerConfigError, resolveListenerOptions } from "./listener/options.js";
import type { ListenerOptions } from "./listener/options.js";
import { silentLogger } from "./log.js";
import type { Logger } from "./log.js";
import type { HostResolver, ProxyHooks } from "./session/context.js";
import { ProxyStats } from "./stats.js";
import { parseDuration } from "./util/duration.js";
import type { Duration } from "./util/duration.js";
import { TimerWheel } from "./util/timer-wheel.js";

/** The pipeline's settings as configured: durations in ms or as strings (`500ms`, `60s`, `5m`). */
export interface AuthPipelineSettings {
  /** Deadline per provider; default 5s. */
  readonly timeout?: Duration;
  /** The decision cache; `false` disables it. */
  readonly cache?: { readonly ttl?: Duration; readonly negative_ttl?: Duration; readonly max_entries?: number } | false;
  /** Failure throttling per client address and per username; `false` disables it. */
  readonly throttle?:
    | {
        readonly max_failures?: number;
        readonly window?: Duration;
        readonly block?: Duration;
        readonly max_tracked?: number;
      }
    | false;
}

/**
 * One provider or a chain of them behind an AuthPipeline, or any Authenticator (used as it is).
 * No provider at all denies every username/password attempt (`no_provider`).
 */
export type AuthOptions =
  | (AuthPipelineSettings & { readonly provider?: AuthProvider; readonly chain?: never })
  | (AuthPipelineSettings & { readonly chain: readonly AuthChainEntry[]; readonly provider?: never })
  | Authenticator;

export interface ProxyServerOptions {
  readonly listeners: readonly ListenerOptions[];
  readonly auth?: AuthOptions;
  readonly logger?: Logger;
  readonly hooks?: ProxyHooks;
  /** How host names in CONNECT requests are resolved; default: the system resolver. */
  readonly resolveHost?: HostResolver;
}

export interface ProxyServer {
  start(): Promise<void>;
  close(): Promise<void>;
  /** The bound address of each listener, in configuration order (after start). */
  addresses(): AddressInfo[];
  readonly stats: ProxyStats;
}

const systemResolver: HostResolver = (host) => lookup(host);

export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  if (options.listeners.length === 0) throw new ListenerConfigError(["listeners: at least one listener is required"]);
  const problems: string[] = [];
  const resolved = options.listeners.flatMap((listener, index) => {
    try {
      return [resolveListenerOptions(listener, `listeners[${String(index)}]`)];
    } catch (error) {
      if (!(error instanceof ListenerConfigError)) throw error;
      problems.push(...error.problems);
      return [];
    }
  });
  if (problems.length > 0) throw new ListenerConfigError(problems);

  const logger = options.logger ?? silentLogger;
  const authenticator = toAuthenticator(options.auth);
  const stats = new ProxyStats();
  const wheel = new TimerWheel();
  const listeners = resolved.map(
    (listenerOptions) =>
      new Listener({
        options: listenerOptions,
        authenticator,
        logger: logger.child({ listener: listenerOptions.name }),
        wheel,
        stats,
        resolveHost: options.resolveHost ?? systemResolver,
        hooks: options.hooks ?? {},
      }),
  );
  let started = false;

  return {
    stats,
    async start() {
      if (started) throw new Error("proxy server already started");
      started = true;
      try {
        for (const listener of listeners) await listener.start();
      } catch (error) {
        await Promise.all(listeners.map((listener) => listener.close()));
        throw error;
      }
    },
    async close() {
      await Promise.all(listeners.map((listener) => listener.close()));
      wheel.stop();
    },
    addresses() {
      return listeners.map((listener) => listener.address());
    },
  };
}

function toAuthenticator(auth: AuthOptions | undefined): Authenticator {
  if (auth === undefined) return new AuthPipeline({ chain: [] });
  if ("decide" in auth) return auth;
  const options = toPipelineOptions(auth);
  try {
    return new AuthPipeline(options);
  } catch (error) {
    if (error instanceof AuthConfigError) throw new AuthConfigError(error.problems.map((problem) => `auth.${problem}`));
    throw error;
  }
}

/** Configured durations become milliseconds; every bad one is reported, each by its path. */
function toPipelineOptions(auth: Exclude<AuthOptions, Authenticator>): AuthPipelineOptions {
  const problems: string[] = [];
  const ms = (path: string, value: Duration | undefined): number | undefined => {
    if (value === undefined) return undefined;
    try {
      return parseDuration(value);
    } catch (error) {
      problems.push(`auth.${path}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const untyped: { readonly chain?: unknown; readonly provider?: unknown } = auth; // plain JavaScript may pass both
  if (untyped.chain !== undefined && untyped.provider !== undefined) {
    problems.push("auth: give either provider or chain, not both");
  }
  const chain = auth.chain ?? (auth.provider === undefined ? [] : [{ provider: auth.provider }]);
  const timeoutMs = ms("timeout", auth.timeout);
  let cache: AuthCacheOptions | false | undefined = auth.cache === false ? false : undefined;
  if (auth.cache) {
    const ttlMs = ms("cache.ttl", auth.cache.ttl);
    const negativeTtlMs = ms("cache.negative_ttl", auth.cache.negative_ttl);
    cache = {
      ...(ttlMs !== undefined && { ttlMs }),
      ...(negativeTtlMs !== undefined && { negativeTtlMs }),
      ...(auth.cache.max_entries !== undefined && { maxEntries: auth.cache.max_entries }),
    };
  }
  let throttle: AuthThrottleOptions | false | undefined = auth.throttle === false ? false : undefined;
  if (auth.throttle) {
    const windowMs = ms("throttle.window", auth.throttle.window);
    const blockMs = ms("throttle.block", auth.throttle.block);
    throttle = {
      ...(auth.throttle.max_failures !== undefined && { maxFailures: auth.throttle.max_failures }),
      ...(windowMs !== undefined && { windowMs }),
      ...(blockMs !== undefined && { blockMs }),
      ...(auth.throttle.max_tracked !== undefined && { maxTracked: auth.throttle.max_tracked }),
    };
  }
  if (problems.length > 0) throw new AuthConfigError(problems);
  return {
    chain,
    ...(timeoutMs !== undefined && { timeoutMs }),
    ...(cache !== undefined && { cache }),
    ...(throttle !== undefined && { throttle }),
  };
}
