import { isBcryptRecord, parseBcryptRecord } from "./bcrypt-record.js";
import type { BcryptRecord } from "./bcrypt-record.js";
import { PasswordRecordError } from "./record-error.js";
import { isScryptRecord, parseScryptRecord } from "./scrypt-record.js";
import type { ScryptRecord } from "./scrypt-record.js";

/** A parsed password record: its algorithm and the parameters it describes. */
export type PasswordRecord = ScryptRecord | BcryptRecord;

/**
 * Parses and bounds-checks a record without doing any KDF work; throws PasswordRecordError.
 * Use it to validate records when config is loaded.
 */
export function parsePasswordRecord(record: string): PasswordRecord {
  if (isScryptRecord(record)) return parseScryptRecord(record);
  if (isBcryptRecord(record)) return parseBcryptRecord(record);
  if (/^\$[A-Za-z0-9-]{1,32}\$/.test(record)) {
    throw new PasswordRecordError(
      "GH_PASSWORD_RECORD_UNKNOWN_ALGORITHM",
      "unknown password algorithm (supported: $scrypt$, bcrypt $2a$/$2b$/$2y$)",
    );
  }
  throw new PasswordRecordError("GH_PASSWORD_RECORD_MALFORMED", "not a password record");
}
