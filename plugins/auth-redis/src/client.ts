import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { ConnectionOptions } from "node:tls";
import { Cluster, Redis } from "ioredis";
import type { Logger } from "@gatehouse-proxy/core";
import type { RedisConnectionConfig } from "./config.js";

export type RedisClient = Redis | Cluster;

/** Reconnect forever with a capped back-off: a restarted Redis is found again without restarting Gatehouse. */
function reconnectDelay(times: number): number {
  return Math.min(100 * times, 2000);
}

/**
 * A client that never hangs: `connect_timeout` and `command_timeout` on every connection, no
 * offline queue (a command while disconnected fails at once), one retry per command, and an
 * `error` listener (ioredis would otherwise report every failed reconnect as unhandled). Not
 * connected yet: call connect().
 */
export async function createRedisClient(
  config: RedisConnectionConfig,
  configDir: string,
  logger: Logger,
): Promise<RedisClient> {
  const password = await secret(config.password, config.password_file, configDir);
  const tls = await tlsOptions(config, configDir);
  const connection = {
    connectTimeout: config.connect_timeout,
    commandTimeout: config.command_timeout,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls }),
  };
  let client: RedisClient;
  if (config.cluster !== undefined) {
    client = new Cluster(config.cluster.map(hostAndPort), {
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: config.command_timeout,
      redisOptions: connection,
    });
  } else {
    const common = {
      ...connection,
      enableOfflineQueue: false,
      retryStrategy: reconnectDelay,
      ...(config.db === undefined ? {} : { db: config.db }),
    };
    if (config.sentinels !== undefined) {
      const sentinelPassword = await secret(config.sentinel_password, config.sentinel_password_file, configDir);
      client = new Redis({
        ...common,
        sentinels: config.sentinels.map(hostAndPort),
        name: config.name ?? "",
        sentinelCommandTimeout: config.command_timeout,
        sentinelRetryStrategy: reconnectDelay,
        ...(config.sentinel_username === undefined ? {} : { sentinelUsername: config.sentinel_username }),
        ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
      });
    } else {
      client = new Redis(config.url ?? "", common);
    }
  }
  let lastError = "";
  let ready = false;
  client.on("error", (error: Error) => {
    // One line per distinct failure, not one per reconnect attempt.
    const text = `${error.name}: ${error.message}`;
    if (text === lastError) return;
    lastError = text;
    logger.warn({ event: "redis_error", err_message: text }, "redis connection error");
  });
  client.on("close", () => {
    if (!ready) return;
    ready = false;
    logger.warn({ event: "redis_connection_lost" }, "redis connection lost; reconnecting");
  });
  client.on("ready", () => {
    if (lastError !== "" || !ready) logger.info({ event: "redis_ready" }, "redis connection ready");
    ready = true;
    lastError = "";
  });
  return client;
}

/**
 * connect() and a PING, bounded by `timeoutMs`; on failure the client is shut down and the error
 * thrown, naming the cause Redis gave (ioredis itself only says "Connection is closed").
 */
export async function connectRedis(client: RedisClient, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let cause: Error | undefined;
  const onError = (error: Error): void => {
    cause ??= error;
  };
  client.on("error", onError);
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready within ${String(timeoutMs)} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    client.disconnect();
    const message = (error as Error).message;
    throw new Error(`cannot connect to Redis: ${message}${cause === undefined ? "" : ` (${cause.message})`}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    client.off("error", onError);
  }
}

export async function closeRedis(client: RedisClient): Promise<void> {
  // A close we asked for is not an outage.
  client.removeAllListeners("close");
  try {
    await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  } catch {
    // already gone
  }
  client.disconnect();
}

function hostAndPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(address.slice(at + 1)) };
}

async function secret(inline: string | undefined, file: string | undefined, configDir: string) {
  if (inline !== undefined) return inline;
  if (file === undefined) return undefined;
  const path = resolve(configDir, file);
  try {
    return (await readFile(path, "utf8")).replace(/\r?\n$/, "");
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, { cause: error });
  }
}

async function tlsOptions(config: RedisConnectionConfig, configDir: string): Promise<ConnectionOptions | undefined> {
  if (config.tls === undefined) return undefined;
  const options: ConnectionOptions = {};
  if (config.tls.ca_file !== undefined) {
    const path = resolve(configDir, config.tls.ca_file);
    try {
      options.ca = await readFile(path);
    } catch (error) {
      throw new Error(`tls.ca_file: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, {
        cause: error,
      });
    }
  }
  if (config.tls.servername !== undefined) options.servername = config.tls.servername;
  return options;
}
