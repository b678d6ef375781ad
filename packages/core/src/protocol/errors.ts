/** Why the peer's bytes could not be accepted; `reply` is the SOCKS reply to send before closing, if any. */
export type ProtocolErrorCode =
  | "bad_version"
  | "bad_auth_version"
  | "bad_reserved"
  | "unknown_command"
  | "unknown_address_type"
  | "empty_domain_name";

/** Bytes from the peer that break RFC 1928/1929; `code` says which rule, and the session replies accordingly and closes. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}
