import { definePlugin } from "@gatehouse-proxy/core";
import { connectRedis, createRedisClient } from "./client.js";
import { redisConfigSchema } from "./config.js";
import { RedisProvider } from "./redis-provider.js";
import { RedisUserStore } from "./user-store.js";

export { RedisProvider, RedisLookupError } from "./redis-provider.js";
export { RedisUserStore } from "./user-store.js";
export { DEFAULT_KEY_PREFIX, redisConfigSchema } from "./config.js";
export type { RedisConfig } from "./config.js";
export { decodeUsername, encodeUsername, userKey, userKeyPattern } from "./key.js";
export { UserRecordError, parseUserRecord } from "./record.js";

/** `use: redis` — users, password records and groups kept in Redis (standalone, Sentinel or Cluster). */
export default definePlugin({
  name: "@gatehouse-proxy/auth-redis",
  gatehouse: "^0.1",
  configSchema: redisConfigSchema,
  provider: RedisProvider,
  async userStore(config, context) {
    const client = await createRedisClient(config, context.configDir, context.logger);
    await connectRedis(client, config.connect_timeout + config.command_timeout);
    return new RedisUserStore(client, config.key_prefix);
  },
});
