/** Why a password record cannot be used: stable codes for logs and config errors. */
export type PasswordRecordErrorCode = "malformed" | "unknown_algorithm" | "cost_out_of_range";

/**
 * A password record that is malformed, names an algorithm we do not verify, or asks for an
 * absurd amount of KDF work (a denial-of-service lever when records come from a shared store).
 * The message never quotes the record: a plaintext password put where a record belongs would
 * otherwise end up in logs.
 */
export class PasswordRecordError extends Error {
  constructor(
    readonly code: PasswordRecordErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "PasswordRecordError";
  }
}
