import { PasswordRecordError, parsePasswordRecord, z } from "@gatehouse-proxy/core";

const HINT = 'create one with "gatehouse hash-password"';

/**
 * A password record made by `gatehouse hash-password` (scrypt, or bcrypt $2a$/$2b$/$2y$),
 * checked when the config is loaded. A plaintext password is refused; no message quotes the value.
 */
export const passwordRecordField = z.string().superRefine((value, context) => {
  try {
    parsePasswordRecord(value);
  } catch (error) {
    if (!(error instanceof PasswordRecordError)) throw error;
    context.addIssue({ code: "custom", message: `${error.message}; ${HINT}` });
  }
});
