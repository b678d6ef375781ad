// `@gatehouse-proxy/auth-redis/connection`: how to reach Redis, for the server's shared state
// (`state: {store: redis}`) — the same options, timeouts and reconnects as the provider, and one
// copy of ioredis.
export { redisConnectionShape, refineRedisConnection } from "./config.js";
export type { RedisConnectionConfig } from "./config.js";
export { closeRedis, connectRedis, createRedisClient } from "./client.js";
export type { RedisClient } from "./client.js";
