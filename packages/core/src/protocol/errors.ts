import type { NameRefusal } from "./destination-name.js";

/** Why the peer's bytes could not be accepted; `reply` is the SOCKS reply to send before closing, if any. */
export type ProtocolErrorCode =
  "bad_version" | "bad_auth_version" | "bad_reserved" | "unknown_command" | "unknown_address_type" | "refused_name";

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

/**
 * A complete request whose domain name failed validation (see interpretDestinationName):
 * answered 04, never resolved nor dialled. `shown` is the name escaped for a log line.
 */
export class RefusedNameError extends ProtocolError {
  constructor(
    readonly reason: NameRefusal,
    readonly shown: string,
    readonly command: number,
    readonly port: number,
  ) {
    super("refused_name", `refused destination name "${shown}": ${reason}`);
    this.name = "RefusedNameError";
  }
}
