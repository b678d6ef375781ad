import { decodeB64, encodeB64 } from "./base64.js";
import { PasswordRecordError } from "./record-error.js";

/** scrypt's cost parameters: N = 2^ln, block size r, parallelism p. */
export interface ScryptParams {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

/** A parsed `$scrypt$ln=..,r=..,p=..$salt$hash` record. */
export interface ScryptRecord {
  readonly algorithm: "scrypt";
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/**
 * Defaults for new records. Measured on the 2-CPU build host (Node 20, one computation at a time):
 * ln=14 81 ms, ln=15 153 ms, ln=16 295 ms, ln=17 570 ms. Every uncached login (and every attempt
 * for an unknown user) pays this, KDF work runs at most a few at a time, and the auth pipeline's
 * default deadline is 5 s, so ln=17 (128 MiB per computation) would queue a burst of logins past
 * the deadline on small hosts. ln=15 (32 MiB, ~150 ms, twice Node's own default of ln=14) keeps
 * ~13 uncached logins/s on two cores; operators wanting more can hash with a higher ln — records
 * describe their own parameters.
 */
export const SCRYPT_DEFAULTS: ScryptParams = Object.freeze({ ln: 15, r: 8, p: 1 });
export const SCRYPT_SALT_BYTES = 16;
export const SCRYPT_HASH_BYTES = 32;

/** Bounds a record's parameters must fall in: anything beyond is refused, not computed. */
export const SCRYPT_BOUNDS = Object.freeze({
  ln: { min: 10, max: 20 },
  r: { min: 1, max: 32 },
  p: { min: 1, max: 16 },
  /** 128·N·r·p bytes: scrypt's memory (128·N·r) times its sequential passes (p). */
  maxWorkBytes: 256 * 1024 * 1024,
  saltBytes: { min: 8, max: 64 },
  hashBytes: { min: 16, max: 64 },
});

const PREFIX = "$scrypt$";

/** Refuses parameters outside SCRYPT_BOUNDS with `cost_out_of_range`. */
export function checkScryptParams(params: ScryptParams): void {
  for (const key of ["ln", "r", "p"] as const) {
    const { min, max } = SCRYPT_BOUNDS[key];
    const value = params[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new PasswordRecordError(
        "GH_PASSWORD_RECORD_COST_OUT_OF_RANGE",
        `scrypt ${key}=${String(value)} is out of range (allowed ${min}..${max})`,
      );
    }
  }
  if (scryptWorkBytes(params) > SCRYPT_BOUNDS.maxWorkBytes) {
    throw new PasswordRecordError(
      "GH_PASSWORD_RECORD_COST_OUT_OF_RANGE",
      `scrypt ln=${params.ln},r=${params.r},p=${params.p} needs more than 256 MiB of work (128·N·r·p)`,
    );
  }
}

export function scryptWorkBytes({ ln, r, p }: ScryptParams): number {
  return 128 * 2 ** ln * r * p;
}

/** `$scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>` */
export function formatScryptRecord(params: ScryptParams, salt: Uint8Array, hash: Uint8Array): string {
  return `${PREFIX}ln=${params.ln},r=${params.r},p=${params.p}$${encodeB64(salt)}$${encodeB64(hash)}`;
}

export function isScryptRecord(record: string): boolean {
  return record.startsWith(PREFIX);
}

export function parseScryptRecord(record: string): ScryptRecord {
  const fields = record.slice(PREFIX.length).split("$");
  if (fields.length !== 3) throw malformed("expected $scrypt$ln=..,r=..,p=..$<salt>$<hash>");
  const [paramText, saltText, hashText] = fields as [string, string, string];
  const params = parseParams(paramText);
  checkScryptParams(params);
  const salt = decodeB64(saltText);
  const hash = decodeB64(hashText);
  if (salt === undefined || hash === undefined) throw malformed("salt and hash must be base64");
  checkLength("salt", salt, SCRYPT_BOUNDS.saltBytes);
  checkLength("hash", hash, SCRYPT_BOUNDS.hashBytes);
  return { algorithm: "scrypt", params, salt, hash };
}

function parseParams(text: string): ScryptParams {
  const values = new Map<string, number>();
  for (const pair of text.split(",")) {
    const match = /^(ln|r|p)=(0|[1-9][0-9]{0,5})$/.exec(pair);
    if (match === null || values.has(match[1]!)) throw malformed("parameters must be ln=<int>,r=<int>,p=<int>");
    values.set(match[1]!, Number(match[2]));
  }
  const ln = values.get("ln");
  const r = values.get("r");
  const p = values.get("p");
  if (ln === undefined || r === undefined || p === undefined) throw malformed("parameters ln, r and p are required");
  return { ln, r, p };
}

function checkLength(what: string, bytes: Buffer, { min, max }: { min: number; max: number }): void {
  if (bytes.length < min || bytes.length > max) {
    throw malformed(`${what} must be ${min}..${max} bytes, not ${bytes.length}`);
  }
}

function malformed(detail: string): PasswordRecordError {
  return new PasswordRecordError("GH_PASSWORD_RECORD_MALFORMED", `malformed scrypt record: ${detail}`);
}
