import { randomBytes, timingSafeEqual } from "node:crypto";
import { deriveScrypt, hashBcrypt } from "./kdf.js";
import { parsePasswordRecord } from "./record.js";
import {
  SCRYPT_DEFAULTS,
  SCRYPT_HASH_BYTES,
  SCRYPT_SALT_BYTES,
  checkScryptParams,
  formatScryptRecord,
} from "./scrypt-record.js";
import type { ScryptParams } from "./scrypt-record.js";

/** scrypt cost parameters for a new record (defaults: SCRYPT_DEFAULTS) and a signal to abort the wait for a KDF slot. */
export interface HashPasswordOptions extends Partial<ScryptParams> {
  readonly signal?: AbortSignal;
}

/** Options of verifyPassword and verifyAgainstDummy. */
export interface VerifyPasswordOptions {
  /** Aborts the wait for a KDF slot (a computation that has started runs to its end). */
  readonly signal?: AbortSignal;
}

/**
 * A new self-describing scrypt record: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64, no padding).
 * Throws a RangeError for a password that ends with a NUL character: scrypt could not tell it from
 * the same password without the NUL (see endsWithNul).
 */
export async function hashPassword(password: string, options: HashPasswordOptions = {}): Promise<string> {
  if (endsWithNul(password)) throw new RangeError("a password cannot end with a NUL character");
  const params: ScryptParams = {
    ln: options.ln ?? SCRYPT_DEFAULTS.ln,
    r: options.r ?? SCRYPT_DEFAULTS.r,
    p: options.p ?? SCRYPT_DEFAULTS.p,
  };
  checkScryptParams(params);
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const hash = await deriveScrypt(password, salt, SCRYPT_HASH_BYTES, params, options.signal);
  return formatScryptRecord(params, salt, hash);
}

/**
 * Whether `password` matches `record` (scrypt, or bcrypt $2a$/$2b$/$2y$), compared in constant
 * time. Throws PasswordRecordError — before any KDF work — for a malformed record, an unknown
 * algorithm or cost parameters out of bounds.
 */
export async function verifyPassword(
  password: string,
  record: string,
  options: VerifyPasswordOptions = {},
): Promise<boolean> {
  const parsed = parsePasswordRecord(record);
  if (parsed.algorithm === "scrypt") {
    const derived = await deriveScrypt(password, parsed.salt, parsed.hash.length, parsed.params, options.signal);
    // The work is done either way, so the refusal takes as long as a wrong password.
    return timingSafeEqual(derived, parsed.hash) && !endsWithNul(password);
  }
  const derived = Buffer.from(await hashBcrypt(password, parsed.record, options.signal));
  const expected = Buffer.from(parsed.record);
  return derived.length === expected.length && timingSafeEqual(derived, expected);
}

/**
 * The KDF work of verifying against a default-parameter record, for a user that does not exist,
 * so an unknown username takes as long as a wrong password. Always false.
 */
export async function verifyAgainstDummy(password: string, options: VerifyPasswordOptions = {}): Promise<boolean> {
  const derived = await deriveScrypt(
    password,
    randomBytes(SCRYPT_SALT_BYTES),
    SCRYPT_HASH_BYTES,
    SCRYPT_DEFAULTS,
    options.signal,
  );
  timingSafeEqual(derived, dummyHash);
  return false;
}

const dummyHash = randomBytes(SCRYPT_HASH_BYTES);

/**
 * scrypt keys HMAC-SHA256 with the password, and HMAC pads a key of up to 64 bytes with zero
 * bytes: `pw` and `pw\0` derive the same hash. A password ending in NUL is therefore never
 * stored and never accepted, so each record matches exactly one password.
 */
function endsWithNul(password: string): boolean {
  return password.endsWith("\0");
}
