import { PasswordRecordError } from "./record-error.js";

/** A parsed bcrypt `$2a$`/`$2b$`/`$2y$` record. */
export interface BcryptRecord {
  readonly algorithm: "bcrypt";
  /** log2 of the number of rounds. */
  readonly cost: number;
  /** The record itself: bcryptjs takes it whole. */
  readonly record: string;
}

/** Costs beyond 14 take seconds in pure-JS bcrypt: a DoS lever, so they are refused. */
export const BCRYPT_COST_BOUNDS = Object.freeze({ min: 4, max: 14 });

const BCRYPT_PREFIX = /^\$2[aby]\$/;
/** `$2b$10$` + 22 characters of salt + 31 of hash, in bcrypt's own base64 alphabet. */
const BCRYPT_RECORD = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/;

export function isBcryptRecord(record: string): boolean {
  return BCRYPT_PREFIX.test(record);
}

export function parseBcryptRecord(record: string): BcryptRecord {
  const match = BCRYPT_RECORD.exec(record);
  if (match === null) {
    throw new PasswordRecordError(
      "GH_PASSWORD_RECORD_MALFORMED",
      "malformed bcrypt record: expected $2b$<cost>$<53 characters>",
    );
  }
  const cost = Number(match[1]);
  if (cost < BCRYPT_COST_BOUNDS.min || cost > BCRYPT_COST_BOUNDS.max) {
    throw new PasswordRecordError(
      "GH_PASSWORD_RECORD_COST_OUT_OF_RANGE",
      `bcrypt cost ${cost} is out of range (allowed ${BCRYPT_COST_BOUNDS.min}..${BCRYPT_COST_BOUNDS.max})`,
    );
  }
  return { algorithm: "bcrypt", cost, record };
}
