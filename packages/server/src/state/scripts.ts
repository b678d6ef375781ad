// The Lua scripts of the Redis state store. Each runs atomically in Redis, so a limit holds
// exactly however many instances ask at once, and each takes its time from Redis (TIME), so
// the instances' clocks do not have to agree. Every key a script touches is passed in KEYS.

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Connection leases. KEYS: one sorted set per limit that applies (member = lease, score = its
 * expiry). ARGV: ttl ms, lease member, then the limit of each key in order. Drops expired
 * leases; returns the 1-based index of the first full key, or 0 once the lease is added to all.
 */
export const ACQUIRE_LEASE = `${NOW}
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[2])
  redis.call('PEXPIRE', key, ttl)
end
return 0`;

/**
 * The heartbeat: every lease this instance holds gets a new expiry. KEYS: the sets; ARGV: ttl
 * ms, then the member for each key. A lease that is gone (Redis restarted empty, or the
 * heartbeat failed for longer than the TTL) is added again: its session is still open.
 */
export const REFRESH_LEASES = `${NOW}
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[1 + i])
  redis.call('PEXPIRE', key, ttl)
end
return #KEYS`;

/** Admission outcomes of THROTTLE_ADMIT. */
export const ADMITTED = 0;
export const BLOCKED_ADDRESS = 1;
export const BLOCKED_USERNAME = 2;
export const ADMITTED_PROBE = 3;

/**
 * The throttle's admission, one round trip per attempt. KEYS: address block, username block,
 * familiar pair, probe pair, suspect pair. ARGV: probe ttl ms. A blocked username admits a
 * familiar address, refuses a suspect one or one with a probe in flight, and lets any other
 * address probe once at a time (the probe key is deleted when the attempt is decided).
 */
export const THROTTLE_ADMIT = `if redis.call('EXISTS', KEYS[1]) == 1 then return ${String(BLOCKED_ADDRESS)} end
if redis.call('EXISTS', KEYS[2]) == 0 then return ${String(ADMITTED)} end
if redis.call('EXISTS', KEYS[3]) == 1 then return ${String(ADMITTED)} end
if redis.call('EXISTS', KEYS[4]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then return ${String(BLOCKED_USERNAME)} end
redis.call('SET', KEYS[4], '1', 'PX', ARGV[1])
return ${String(ADMITTED_PROBE)}`;

/**
 * A bad-credential failure. KEYS: address failures, address block, username failures, username
 * block, suspect pair. ARGV: max failures, window ms, block ms, client address, a unique id.
 * Failures are sorted sets of timestamps; reaching the maximum within the window sets the block
 * key (with its expiry) and clears the failures; a failure while blocked does not extend it.
 */
export const THROTTLE_FAILURE = `${NOW}
local max, window, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function fail(failures, blocked, member)
  if redis.call('EXISTS', blocked) == 1 then return end
  redis.call('ZREMRANGEBYSCORE', failures, '-inf', now - window)
  redis.call('ZADD', failures, now, member)
  if redis.call('ZCARD', failures) >= max then
    redis.call('SET', blocked, '1', 'PX', block)
    redis.call('DEL', failures)
  else
    redis.call('PEXPIRE', failures, window)
  end
end
fail(KEYS[1], KEYS[2], ARGV[5])
fail(KEYS[3], KEYS[4], ARGV[4] .. ' ' .. ARGV[5])
redis.call('SET', KEYS[5], '1', 'PX', window + block)
return 1`;

/**
 * A successful login. KEYS: address failures, username failures, suspect pair, familiar pair.
 * ARGV: client address, familiar ms. Only this address's failures for the username go: those
 * of guessers elsewhere keep counting; a block in force runs out on its own.
 */
export const THROTTLE_SUCCESS = `redis.call('DEL', KEYS[1])
local mine = ARGV[1] .. ' '
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if string.sub(member, 1, #mine) == mine then redis.call('ZREM', KEYS[2], member) end
end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
return 1`;

/** How long a revocation is kept for instances that were disconnected when it was published. */
export const REVOCATION_RETENTION_MS = 24 * 3600 * 1000;

/**
 * A revocation: recorded (KEYS[1], a sorted set scored by Redis time, older than ARGV[2] ms
 * dropped) for instances that are disconnected now and catch up when they reconnect, then
 * published on the channel ARGV[3]. ARGV[1]: the identity. Returns the number of subscribers
 * that heard it.
 */
export const PUBLISH_REVOCATION = `${NOW}
local message = cjson.encode({identity = ARGV[1], at = now})
redis.call('ZADD', KEYS[1], now, message)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('PUBLISH', ARGV[3], message)`;
