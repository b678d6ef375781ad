import { GatehouseError } from "../errors/gatehouse-error.js";

/** Why a password record cannot be used: stable codes for logs and config errors. */
export type PasswordRecordErrorCode =
  "GH_PASSWORD_RECORD_MALFORMED" | "GH_PASSWORD_RECORD_UNKNOWN_ALGORITHM" | "GH_PASSWORD_RECORD_COST_OUT_OF_RANGE";

/**
 * A password record that is malformed, names an algorithm we do not verify, or asks for an
 * absurd amount of KDF work (a denial-of-service lever when records come from a shared store).
 * The message never quotes the record: a plaintext password put where a record belongs would
 * otherwise end up in logs.
 */
export class PasswordRecordError extends GatehouseError {
  declare readonly code: PasswordRecordErrorCode;

  constructor(code: PasswordRecordErrorCode, message: string) {
    super(code, message);
    this.name = "PasswordRecordError";
  }
}
