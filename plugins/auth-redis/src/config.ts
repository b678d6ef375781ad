import { parseDuration, z } from "@gatehouse-proxy/core";

const duration = z.union([z.number(), z.string()]).transform((value, context) => {
  try {
    const ms = parseDuration(value);
    if (ms > 0) return ms;
    context.addIssue({ code: "custom", message: "must be greater than zero" });
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
  }
  return z.NEVER;
});

const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, "expected host:port (IPv6 as [addr]:port)");

/** A secret given inline (`${env:NAME}` works) or read from a file relative to the config file. */
const secret = z.string().min(1).optional();

export const DEFAULT_KEY_PREFIX = "gatehouse:user:";

/**
 * How to reach Redis (standalone, Sentinel or Cluster) and the timeouts of every call: shared by
 * the provider and the server's `state: {store: redis}` (exported as `./connection`).
 */
export const redisConnectionShape = {
  /** Standalone Redis: `redis://host:port[/db]` or `rediss://` (TLS). */
  url: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, "must start with redis:// or rediss://")
    .optional(),
  /** Sentinel: the sentinels' addresses and the monitored master's `name`. */
  sentinels: z.array(hostPort).min(1).optional(),
  name: z.string().min(1).optional(),
  sentinel_username: z.string().min(1).optional(),
  sentinel_password: secret,
  sentinel_password_file: secret,
  /** Cluster: some of its nodes (the rest are discovered). */
  cluster: z.array(hostPort).min(1).optional(),
  /** Database number (standalone and Sentinel; Cluster has only 0). */
  db: z.number().int().min(0).max(15).optional(),
  tls: z
    .strictObject({
      /** PEM file of the CA that signed the server certificate; relative to the config file. */
      ca_file: z.string().min(1).optional(),
      /** The name the server certificate must carry, when it is not the host connected to. */
      servername: z.string().min(1).optional(),
    })
    .optional(),
  /** ACL user (Redis 6+); `password` alone is `requirepass`. */
  username: z.string().min(1).optional(),
  password: secret,
  password_file: secret,
  connect_timeout: duration.default(2000),
  command_timeout: duration.default(1000),
};

export type RedisConnectionConfig = z.output<z.ZodObject<typeof redisConnectionShape>>;

/** The checks across the connection options: exactly one topology, and options only where they apply. */
export function refineRedisConnection(config: RedisConnectionConfig, context: z.RefinementCtx): void {
  const modes = [config.url, config.sentinels, config.cluster].filter((mode) => mode !== undefined).length;
  if (modes !== 1) {
    context.addIssue({ code: "custom", message: "set exactly one of url, sentinels (with name) or cluster" });
  }
  if (config.sentinels !== undefined && config.name === undefined) {
    context.addIssue({ code: "custom", path: ["name"], message: "sentinels needs the master's name" });
  }
  if (config.sentinels === undefined) {
    for (const key of ["name", "sentinel_username", "sentinel_password", "sentinel_password_file"] as const) {
      if (config[key] !== undefined) context.addIssue({ code: "custom", path: [key], message: "only with sentinels" });
    }
  }
  if (config.cluster !== undefined && config.db !== undefined) {
    context.addIssue({ code: "custom", path: ["db"], message: "Redis Cluster has only database 0" });
  }
  if (config.password !== undefined && config.password_file !== undefined) {
    context.addIssue({ code: "custom", path: ["password_file"], message: "set password or password_file, not both" });
  }
  if (config.sentinel_password !== undefined && config.sentinel_password_file !== undefined) {
    context.addIssue({
      code: "custom",
      path: ["sentinel_password_file"],
      message: "set sentinel_password or sentinel_password_file, not both",
    });
  }
  if (config.tls !== undefined && config.url !== undefined && !config.url.startsWith("rediss://")) {
    context.addIssue({ code: "custom", path: ["tls"], message: "tls needs a rediss:// url" });
  }
}

export const redisConfigSchema = z
  .strictObject({ ...redisConnectionShape, key_prefix: z.string().min(1).default(DEFAULT_KEY_PREFIX) })
  .superRefine(refineRedisConnection);

export type RedisConfig = z.output<typeof redisConfigSchema>;
