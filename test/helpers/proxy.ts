import { createProxyServer } from "@gatehouse-proxy/core/engine";
import type {
  AuthEvent,
  AuthOptions,
  DnsOptions,
  EngineClock,
  ListenerOptions,
  PolicyDeniedEvent,
  ProxyServer,
  SessionRecord,
  SharedState,
} from "@gatehouse-proxy/core/engine";
import type { HostResolver, Logger } from "@gatehouse-proxy/core";
import type { PolicyOptions } from "@gatehouse-proxy/core/policy";
import { spliceBackend } from "./relays.js";
import type { RelayKind } from "./relays.js";

export interface LogRecord {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly fields: Record<string, unknown>;
  readonly message: string | undefined;
}

/** A Logger that keeps every record, so tests can assert on log lines (and on their absence). */
export function memoryLogger(
  records: LogRecord[] = [],
  bindings: Record<string, unknown> = {},
): Logger & {
  records: LogRecord[];
} {
  const push =
    (level: LogRecord["level"]) =>
    (fields: object, message?: string): void => {
      records.push({ level, fields: { ...bindings, ...fields }, message });
    };
  return {
    records,
    debug: push("debug"),
    info: push("info"),
    warn: push("warn"),
    error: push("error"),
    child: (more: object) => memoryLogger(records, { ...bindings, ...more }),
  };
}

export interface TestProxy {
  readonly server: ProxyServer;
  readonly port: number;
  readonly ports: number[];
  readonly logs: LogRecord[];
  readonly sessions: SessionRecord[];
  readonly authEvents: AuthEvent[];
  readonly policyDenials: PolicyDeniedEvent[];
  close(): Promise<void>;
  /** Resolves when `count` sessions have ended (their records were written). */
  sessionsEnded(count: number, timeoutMs?: number): Promise<SessionRecord[]>;
}

export interface TestProxyOptions {
  readonly listeners?: readonly Partial<ListenerOptions>[];
  readonly auth?: AuthOptions;
  readonly resolveHost?: HostResolver;
  /** The resolver's settings; tests point `servers` at a DNS server of their own (test/helpers/dns-server.ts). */
  readonly dns?: DnsOptions;
  readonly policy?: PolicyOptions;
  /** The engine's clock: a ManualClock lets a test advance time past a deadline instead of waiting for it. */
  readonly clock?: EngineClock;
  /** Which relay carries the tunnels (default js: the engine's default without a splice backend). */
  readonly relay?: RelayKind;
  /** Connection limits and the failure throttle kept elsewhere (as a `workers` worker does). */
  readonly sharedState?: SharedState;
}

/** Starts the engine in-process on 127.0.0.1 with random ports. */
export async function startProxy(options: TestProxyOptions = {}): Promise<TestProxy> {
  const logger = memoryLogger();
  const sessions: SessionRecord[] = [];
  const authEvents: AuthEvent[] = [];
  const policyDenials: PolicyDeniedEvent[] = [];
  const waiters: (() => void)[] = [];
  const listeners = (options.listeners ?? [{}]).map((listener) => ({ listen: "127.0.0.1:0", ...listener }));
  const server = createProxyServer({
    listeners,
    logger,
    ...(options.auth !== undefined && { auth: options.auth }),
    ...(options.resolveHost !== undefined && { resolveHost: options.resolveHost }),
    ...(options.dns !== undefined && { dns: options.dns }),
    ...(options.policy !== undefined && { policy: options.policy }),
    ...(options.clock !== undefined && { clock: options.clock }),
    ...(options.relay === "splice" && { splice: spliceBackend() }),
    ...(options.sharedState !== undefined && { sharedState: options.sharedState }),
    hooks: {
      onPolicyDenied(event) {
        policyDenials.push(event);
      },
      onSessionEnd(record) {
        sessions.push(record);
        for (const wake of waiters.splice(0)) wake();
      },
      onAuthDecision(event) {
        authEvents.push(event);
      },
    },
  });
  await server.start();
  const ports = server.addresses().map((address) => address.port);
  return {
    server,
    port: ports[0]!,
    ports,
    logs: logger.records,
    sessions,
    authEvents,
    policyDenials,
    close: () => server.close(),
    async sessionsEnded(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (sessions.length < count) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`expected ${String(count)} ended sessions, saw ${String(sessions.length)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return sessions;
    },
  };
}
