import {
  authPipelineSettingsSchema,
  dnsOptionsSchema,
  duration,
  durationAtLeast,
  hostPort,
  listenerOptionsSchema,
  parseHostPort,
} from "@gatehouse-proxy/core/engine";

import { policySchema } from "@gatehouse-proxy/core/policy";
import { z } from "@gatehouse-proxy/core";
import { redisConnectionShape, refineRedisConnection } from "@gatehouse-proxy/auth-redis/connection";

/** More engine processes than this is a typo, not a machine. */
export const MAX_WORKERS = 256;
const WORKERS_EXPECTED = `expected a number of processes from 1 to ${String(MAX_WORKERS)}, or "auto"`;

// The sections core consumes (listeners, dns, policy, the pipeline's settings) are core's own
// schemas: an option is defined once, and core checks programmatic input with the same schema.

/** One provider instance: `use:` and `on_error:` are the host's; the rest is the plugin's. */
export const providerEntrySchema = z.looseObject({
  use: z.string().min(1),
  on_error: z.enum(["deny", "next"]).optional(),
});

export const authSchema = z
  .strictObject({
    provider: z.string().min(1).optional(),
    chain: z.array(z.string().min(1)).min(1).optional(),
    providers: z.record(z.string(), providerEntrySchema).default({}),
    ...authPipelineSettingsSchema.shape,
  })
  .superRefine((auth, ctx) => {
    if (auth.provider !== undefined && auth.chain !== undefined) {
      ctx.addIssue({ code: "custom", path: ["chain"], message: "give either provider or chain, not both" });
    }
    const defined = Object.keys(auth.providers);
    const known = defined.length === 0 ? "none are defined under auth.providers" : `defined: ${defined.join(", ")}`;
    const check = (name: string, path: PropertyKey[]): void => {
      if (!Object.hasOwn(auth.providers, name)) {
        ctx.addIssue({ code: "custom", path, message: `unknown provider ${JSON.stringify(name)} (${known})` });
      }
    };
    if (auth.provider !== undefined) check(auth.provider, ["provider"]);
    auth.chain?.forEach((name, index) => check(name, ["chain", index]));
  });

export const logSchema = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  format: z.enum(["json", "pretty"]).optional(),
  /** How often the `handshake_failures` summary line is written (when there were any); default 10s. */
  handshake_failures_interval: durationAtLeast(1).optional(),
});

/** `localhost`, 127.0.0.0/8, ::1 (the schema is loaded by check-config: no import of the admin server here). */
function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The shortest admin token accepted: a guessable token on a network-facing listener is no guard. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * The admin HTTP listener (/metrics, /healthz, /readyz, the operator's /api); off unless this
 * section is present. A listener on a non-loopback address must have a token for /api.
 */
export const adminSchema = z
  .strictObject({
    /** `host:port`; default 127.0.0.1:9090 (loopback). */
    listen: hostPort.optional(),
    /** The bearer token /api/* requires (`${ENV}` substitution keeps it out of the file). */
    token: z
      .string()
      .min(MIN_ADMIN_TOKEN_LENGTH, `must be at least ${String(MIN_ADMIN_TOKEN_LENGTH)} characters`)
      .optional(),
    /** A file holding the token (relative to the config file; surrounding white space ignored). */
    token_file: z.string().min(1).optional(),
  })
  .superRefine((admin, ctx) => {
    if (admin.token !== undefined && admin.token_file !== undefined) {
      ctx.addIssue({ code: "custom", path: ["token_file"], message: "give either token or token_file, not both" });
    }
    const host = admin.listen === undefined ? undefined : parseHostPort(admin.listen)?.host;
    if (host === undefined || isLoopbackHost(host)) return;
    if (admin.token === undefined && admin.token_file === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["listen"],
        message: `${admin.listen ?? ""} is not a loopback address: set admin.token or admin.token_file, which the admin API then requires as a bearer token`,
      });
    }
  });

export const DEFAULT_STATE_KEY_PREFIX = "gatehouse:state:";
const CONNECTION_KEYS = Object.keys(redisConnectionShape).filter(
  (key) => key !== "connect_timeout" && key !== "command_timeout",
);

/**
 * Where connection limits and the failure throttle are kept: `memory` (default: this instance,
 * or its `workers` primary) or `redis` (fleet-wide, with revocations; docs/deploy.md "Shared
 * state in Redis"). The Redis connection options are auth-redis' own.
 */
export const stateSchema = z
  .strictObject({
    store: z.enum(["memory", "redis"]).default("memory"),
    ...redisConnectionShape,
    key_prefix: z.string().min(1).default(DEFAULT_STATE_KEY_PREFIX),
    /** How long a connection lease outlives an instance that stopped refreshing it. */
    lease_ttl: durationAtLeast(300).default(15_000),
    /** Redis unreachable: `deny` (default: fail closed) or `allow` (serve with this instance's own counts). */
    on_store_error: z.enum(["deny", "allow"]).default("deny"),
  })
  .superRefine((state, context) => {
    if (state.store === "redis") {
      refineRedisConnection(state, context);
      if (state.cluster !== undefined && !/\{[^}]+\}/.test(state.key_prefix)) {
        context.addIssue({
          code: "custom",
          path: ["key_prefix"],
          message: "with cluster, key_prefix needs a hash tag such as {gatehouse}: so every key shares one slot",
        });
      }
      return;
    }
    for (const key of CONNECTION_KEYS) {
      if ((state as Record<string, unknown>)[key] !== undefined) {
        context.addIssue({ code: "custom", path: [key], message: "only with store: redis" });
      }
    }
  });

export const configSchema = z.strictObject({
  listeners: z.array(listenerOptionsSchema).min(1),
  auth: authSchema.optional(),
  log: logSchema.optional(),
  admin: adminSchema.optional(),
  /** Authorization rules for every request; absent = everything allowed (see docs/policy.md). */
  policy: policySchema.optional(),
  /** How CONNECT host names are resolved: the hosts file, then these servers (README "DNS"). */
  dns: dnsOptionsSchema.optional(),
  /**
   * SIGTERM/SIGINT: how long established tunnels may drain after the listeners stop
   * accepting, before the rest are ended; default 10s.
   */
  shutdown_timeout: duration.optional(),
  /**
   * Which relay moves established tunnels' bytes: `splice` (kernel to kernel, the
   * @gatehouse-proxy/relay-native addon; a startup error without it), `js` (Node Buffers), or
   * `auto` (default: splice when the addon is built, else js). TLS listeners always use js.
   * Read at startup; a reload that changes it is logged and takes effect at the next start.
   */
  relay: z.enum(["auto", "splice", "js"]).optional(),
  /**
   * Engine processes: N, or `auto` (one per CPU). Default 1: this process serves. Above 1 a
   * primary process starts N workers (node:cluster) and owns the admin listener; connection
   * limits and the failure throttle hold across them (docs/workers.md). Read at startup.
   */
  workers: z
    .union([
      z.int({ error: WORKERS_EXPECTED }).min(1, WORKERS_EXPECTED).max(MAX_WORKERS, WORKERS_EXPECTED),
      z.literal("auto", { error: WORKERS_EXPECTED }),
    ])
    .optional(),
  /** Where connection limits, the failure throttle and revocations live (default: memory). Read at startup. */
  state: stateSchema.optional(),
});

export type GatehouseConfig = z.output<typeof configSchema>;
export type ListenerConfig = z.output<typeof listenerOptionsSchema>;
export type AuthConfig = z.output<typeof authSchema>;
export type ProviderEntry = z.output<typeof providerEntrySchema>;
export type LogConfig = z.output<typeof logSchema>;
export type AdminConfig = z.output<typeof adminSchema>;
export type PolicyConfig = z.output<typeof policySchema>;
export type StateConfig = z.output<typeof stateSchema>;
export type DnsConfig = z.output<typeof dnsOptionsSchema>;
