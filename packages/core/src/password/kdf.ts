import { scrypt } from "node:crypto";
import bcrypt from "bcryptjs";
import { kdfLimiter } from "./kdf-limiter.js";
import type { ScryptParams } from "./scrypt-record.js";

/** scrypt on the libuv pool, through the process-wide KDF limiter. */
export function deriveScrypt(
  password: string,
  salt: Uint8Array,
  keyLength: number,
  { ln, r, p }: ScryptParams,
  signal?: AbortSignal,
): Promise<Buffer> {
  const N = 2 ** ln;
  // OpenSSL needs 128·r·(N + p + 2) bytes; Node's default maxmem (32 MiB) would refuse ln ≥ 15.
  const maxmem = 128 * r * (N + p + 2);
  return kdfLimiter.run(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        scrypt(password, salt, keyLength, { N, r, p, maxmem }, (error, key) => {
          if (error === null) resolve(key);
          else reject(error);
        });
      }),
    signal,
  );
}

/** bcrypt (bcryptjs, pure JS) of `password` with the salt and cost taken from `record`. */
export function hashBcrypt(password: string, record: string, signal?: AbortSignal): Promise<string> {
  // The first 29 characters are `$2b$NN$` and the 22-character salt.
  return kdfLimiter.run(() => bcrypt.hash(password, record.slice(0, 29)), signal);
}
