import { availableParallelism } from "node:os";
import { Semaphore } from "../util/semaphore.js";

/**
 * Half the libuv thread pool (UV_THREADPOOL_SIZE, default 4), at least 1 and at most 4, so KDF
 * work never takes the threads that DNS lookups for CONNECT requests need; never more than the
 * CPUs we have, since more concurrent KDF work than cores only makes every login slower.
 */
export function defaultKdfConcurrency(): number {
  const poolSize = Number.parseInt(process.env["UV_THREADPOOL_SIZE"] ?? "", 10);
  const pool = Number.isInteger(poolSize) && poolSize > 0 ? poolSize : 4;
  return Math.max(1, Math.min(4, Math.floor(pool / 2), availableParallelism()));
}

/**
 * The process-wide limiter every hash and verification goes through. scrypt runs on the libuv
 * thread pool, which DNS lookups and file reads share; bcryptjs runs on the main thread. Capping
 * concurrent KDF computations keeps a login flood from pinning every pool thread (and from
 * allocating scrypt's memory for every queued attempt at once); callers beyond the cap wait in
 * arrival order.
 */
export const kdfLimiter = new Semaphore(defaultKdfConcurrency());
