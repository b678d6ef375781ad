import { ResultCodeError } from "ldapts";

/** The directory is unusable (down, timing out, TLS, service account, base missing): fail closed. */
export class LdapBackendError extends Error {
  constructor(
    message: string,
    readonly code: LdapErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LdapBackendError";
  }
}

export type LdapErrorCode =
  "unavailable" | "timeout" | "tls" | "service_bind" | "no_such_base" | "ambiguous_user" | "directory_error";

/** Active Directory's `data XXX` sub-codes of result 49. */
const AD_REASONS: Readonly<Record<string, string>> = {
  "525": "user_not_found",
  "52e": "invalid_credentials",
  "530": "invalid_logon_hours",
  "531": "invalid_workstation",
  "532": "password_expired",
  "533": "account_disabled",
  "568": "too_many_security_ids",
  "701": "account_expired",
  "773": "password_must_change",
  "775": "account_locked",
};

export interface CredentialsRejected {
  /** A stable reason for the log line. */
  readonly reason: string;
  /** AD's sub-code, when the server sent one. */
  readonly adCode?: string;
}

/** Result 49 → why the credentials were refused; anything else → undefined (an error, not a deny). */
export function credentialsRejected(error: unknown): CredentialsRejected | undefined {
  if (!(error instanceof ResultCodeError) || error.code !== 49) return undefined;
  const match = /\bdata ([0-9a-f]{3,4})\b/i.exec(error.message);
  if (match === null) return { reason: "invalid_credentials" };
  const adCode = match[1]!.toLowerCase();
  return { reason: AD_REASONS[adCode] ?? "invalid_credentials", adCode };
}

export function isResultCodeError(error: unknown): error is ResultCodeError {
  return error instanceof ResultCodeError;
}

/** A short, password-free description of any error for log lines and wrapped messages. */
export function describe(error: unknown): string {
  if (error instanceof ResultCodeError) return `LDAP result ${String(error.code)} (${error.name}): ${error.message}`;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === undefined ? error.message : `${code}: ${error.message}`;
  }
  return String(error);
}

/** Classifies a failure to reach or talk to a server (not an LDAP result) for the thrown error. */
export function transportErrorCode(error: unknown): LdapErrorCode {
  const text = describe(error);
  if (/timed? ?out|timeout/i.test(text)) return "timeout";
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  if (
    /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO|ERR_OSSL)/.test(code) ||
    /certificate|tls|ssl/i.test(text)
  ) {
    return "tls";
  }
  return "unavailable";
}
