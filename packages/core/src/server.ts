import { lookup } from "node:dns/promises";
import type { AddressInfo } from "node:net";
import type { AuthProvider, Authenticator } from "./auth/contract.js";
import { DEFAULT_AUTH_TIMEOUT_MS, ProviderAuthenticator } from "./auth/provider-authenticator.js";
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

/** One provider under the core's deadline, or a full pipeline (the server's) that decides itself. */
export type AuthOptions = { readonly provider?: AuthProvider; readonly timeout?: Duration } | Authenticator;

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
  if (auth !== undefined && "decide" in auth) return auth;
  const timeoutMs = auth?.timeout === undefined ? DEFAULT_AUTH_TIMEOUT_MS : parseDuration(auth.timeout);
  return new ProviderAuthenticator(auth?.provider, timeoutMs);
}
