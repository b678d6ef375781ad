import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { parseDuration } from "@gatehouse-proxy/core";
import type { Logger } from "@gatehouse-proxy/core";
import { throttleOptionsFromSettings } from "@gatehouse-proxy/core/engine";
import type { ConnectionLimiter, FailureLogOptions, FailureThrottleStore } from "@gatehouse-proxy/core/engine";
import { closeRedis, connectRedis, createRedisClient } from "@gatehouse-proxy/auth-redis/connection";
import type { RedisClient } from "@gatehouse-proxy/auth-redis/connection";
import type { Logger as PinoLogger } from "pino";
import type { StateConfig } from "../config/schema.js";
import { RedisLimits } from "./redis-limits.js";
import { RevocationLog } from "./revocation-log.js";
import { PUBLISH_REVOCATION, REVOCATION_RETENTION_MS } from "./scripts.js";
import { RedisThrottle } from "./redis-throttle.js";
import { StateKeys } from "./state-keys.js";
import { StoreHealth } from "./store-health.js";

/** Throttle limits, read at every call (a reload assigns new ones in place). */
export type ThrottleSettings = { -readonly [K in keyof FailureLogOptions]: FailureLogOptions[K] };

/**
 * `state: {store: redis}`: the fleet-wide connection limits and failure throttle one instance
 * uses (the single process, or the `workers` primary on behalf of its workers), and the
 * revocation channel.
 */
export interface RedisStateStore {
  readonly limits: RedisLimits;
  readonly throttle: RedisThrottle;
  readonly health: StoreHealth;
  /** New throttle limits from a reload. */
  configureThrottle(settings: Omit<FailureLogOptions, "now"> | undefined): void;
  /** Tells every instance subscribed (this one too) to end `identity`'s sessions. */
  publishRevocation(identity: string): Promise<void>;
  /** `listener` hears every revocation published on the channel (by any instance or command). */
  onRevocation(listener: (identity: string) => void): void;
  close(): Promise<void>;
}

/** The engine's view of a state store. */
export interface SharedStores {
  readonly limits: ConnectionLimiter;
  readonly throttle: FailureThrottleStore;
}

/** This instance's name in lease members: host, process and a random part (a restart is a new instance). */
function instanceName(): string {
  return `${hostname()}:${String(process.pid)}:${randomBytes(4).toString("hex")}`;
}

/** A Redis client for the state config, connected; throws (naming the cause) when Redis does not answer. */
export async function connectStateClient(config: StateConfig, configDir: string, logger: Logger): Promise<RedisClient> {
  const client = await createRedisClient(config, configDir, logger);
  await connectRedis(client, config.connect_timeout + config.command_timeout);
  return client;
}

/**
 * Connects to Redis and subscribes to revocations. Redis unreachable at startup: with
 * `on_store_error: deny` startup fails (nothing could be admitted); with `allow` it starts on
 * local state and keeps reconnecting.
 */
export async function openRedisState(
  config: StateConfig,
  configDir: string,
  logger: PinoLogger,
  throttle: Omit<FailureLogOptions, "now"> | undefined,
): Promise<RedisStateStore> {
  const health = new StoreHealth(logger, config.on_store_error);
  let client: RedisClient;
  try {
    client = await connectStateClient(config, configDir, logger);
  } catch (error) {
    if (config.on_store_error === "deny") {
      throw new Error(`state: ${(error as Error).message} (on_store_error: deny)`, { cause: error });
    }
    health.failed("connect", error, false);
    client = await createRedisClient(config, configDir, logger);
    client.connect().catch(() => undefined);
  }
  // Both kinds of client can be duplicated without arguments; their signatures differ otherwise.
  const subscriber = (client as { duplicate(): RedisClient }).duplicate();
  const keys = new StateKeys(config.key_prefix);
  const listeners: ((identity: string) => void)[] = [];
  const revocations = new RevocationLog();
  const apply = (message: string, how: "published" | "caught_up"): void => {
    const identity = revocations.accept(message);
    if (identity === undefined) return;
    logger.info(
      { event: "revocation_received", identity, ...(how === "caught_up" ? { caught_up: true } : {}) },
      `revocation received for ${identity}${how === "caught_up" ? " (published while this instance was disconnected)" : ""}`,
    );
    for (const listener of listeners) listener(identity);
  };
  subscriber.on("error", () => undefined);
  subscriber.on("message", (channel: string, message: string) => {
    if (channel === keys.revocations) apply(message, "published");
  });
  // Subscribed at every (re)connection: one that failed at startup is made once Redis is back.
  // After a reconnection, the revocations published while this instance could not hear them are
  // read from the recent log and applied.
  let closing = false;
  /** Reads what was published after `since`; retried (the other connection may still be reconnecting). */
  const catchUp = async (since: number | undefined): Promise<void> => {
    for (let retry = 0; !closing; retry++) {
      try {
        if (since === undefined) {
          revocations.start(await redisTimeMs(client));
        } else {
          const missed = await client.zrangebyscore(keys.recentRevocations, `(${String(since)}`, "+inf");
          for (const message of missed) apply(message, "caught_up");
        }
        return;
      } catch (error) {
        health.failed("revocation_catch_up", error, false);
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** retry)).unref());
      }
    }
  };
  subscriber.on("ready", () => {
    const since = revocations.heardUpTo;
    subscriber.subscribe(keys.revocations).then(
      () => catchUp(since),
      (error: unknown) => health.failed("subscribe", error, false),
    );
  });
  subscriber.connect().catch(() => undefined);

  const instance = instanceName();
  const settings: ThrottleSettings = { ...(throttle ?? throttleOptionsFromSettings({})!), now: Date.now };
  const limits = new RedisLimits(client, keys, instance, parseDuration(config.lease_ttl), health);
  return {
    limits,
    throttle: new RedisThrottle(client, keys, instance, settings, health),
    health,
    configureThrottle(next) {
      if (next !== undefined) Object.assign(settings, next);
    },
    async publishRevocation(identity) {
      await publishRevocation(client, keys, identity);
    },
    onRevocation(listener) {
      listeners.push(listener);
    },
    async close() {
      closing = true;
      limits.close();
      await closeRedis(subscriber);
      await closeRedis(client);
    },
  };
}

/**
 * Publishes a revocation of `identity` on the channel under the state's key_prefix, and records
 * it for a day for instances that are disconnected now. Returns how many instances heard it.
 */
export async function publishRevocation(client: RedisClient, keys: StateKeys, identity: string): Promise<number> {
  return Number(
    await client.eval(
      PUBLISH_REVOCATION,
      1,
      keys.recentRevocations,
      identity,
      REVOCATION_RETENTION_MS,
      keys.revocations,
    ),
  );
}

/** Redis's clock in ms (the revocation log is scored by it). */
async function redisTimeMs(client: RedisClient): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
