import { AddressType, Command, SOCKS_VERSION, USERPASS_VERSION } from "./constants.js";
import { escapeName, compressIPv6, interpretDestinationName } from "./destination-name.js";
import type { InterpretedName } from "./destination-name.js";
import { ProtocolError, RefusedNameError } from "./errors.js";

/**
 * Incremental parsers: each takes the bytes received so far and returns `undefined` when
 * more bytes are needed, or the parsed message and how many bytes it used. They never
 * consume bytes past the message, so a pipelined next message stays in the buffer.
 */
export interface Parsed<T> {
  readonly value: T;
  readonly length: number;
}

/** The client's method-selection message (RFC 1928 §3): the authentication methods it offers. */
export interface Greeting {
  readonly methods: Uint8Array;
}

/** Parses a greeting from the bytes received so far; `undefined` until it is complete. Throws ProtocolError for a version other than 5. */
export function parseGreeting(buf: Uint8Array): Parsed<Greeting> | undefined {
  if (buf.length < 1) return undefined;
  if (buf[0] !== SOCKS_VERSION) {
    throw new ProtocolError("bad_version", `greeting version ${String(buf[0])}, expected 5`);
  }
  if (buf.length < 2) return undefined;
  const count = buf[1]!;
  const length = 2 + count;
  if (buf.length < length) return undefined;
  return { value: { methods: buf.subarray(2, length) }, length };
}

/** RFC 1929 credentials, still as raw bytes: decoding is the session's decision. */
export interface UserPassCredentials {
  readonly username: Uint8Array;
  readonly password: Uint8Array;
}

/** Parses an RFC 1929 username/password request (lengths 0..255); `undefined` until it is complete. Throws ProtocolError for a sub-negotiation version other than 1. */
export function parseUserPass(buf: Uint8Array): Parsed<UserPassCredentials> | undefined {
  if (buf.length < 1) return undefined;
  if (buf[0] !== USERPASS_VERSION) {
    throw new ProtocolError("bad_auth_version", `username/password version ${String(buf[0])}, expected 1`);
  }
  if (buf.length < 2) return undefined;
  const ulen = buf[1]!;
  if (buf.length < 2 + ulen + 1) return undefined;
  const plen = buf[2 + ulen]!;
  const length = 3 + ulen + plen;
  if (buf.length < length) return undefined;
  return {
    value: {
      username: buf.subarray(2, 2 + ulen),
      password: buf.subarray(3 + ulen, length),
    },
    length,
  };
}

/**
 * The destination of a request: an IPv4 or IPv6 address, or a validated domain name (lower
 * case, no trailing dot). A name that is an IP address in a resolver's numeric form (`127.1`,
 * `0`, `::ffff:127.0.0.1`, `[::1]`) arrives here as that address.
 */
export type RequestAddress =
  | { readonly type: "ipv4"; readonly host: string }
  | { readonly type: "ipv6"; readonly host: string }
  | { readonly type: "domain"; readonly host: string };

/** A parsed RFC 1928 request: the command and its destination address and port. */
export interface SocksRequest {
  readonly command: number;
  readonly address: RequestAddress;
  readonly port: number;
}

const KNOWN_COMMANDS: ReadonlySet<number> = new Set(Object.values(Command));

/**
 * Parses a CONNECT/BIND/UDP ASSOCIATE request; `undefined` until it is complete. Throws
 * ProtocolError for a bad version, reserved byte, command or address type, and its subclass
 * RefusedNameError (once the whole request is read) for a domain name that fails validation.
 */
export function parseRequest(buf: Uint8Array): Parsed<SocksRequest> | undefined {
  if (buf.length < 1) return undefined;
  if (buf[0] !== SOCKS_VERSION) {
    throw new ProtocolError("bad_version", `request version ${String(buf[0])}, expected 5`);
  }
  if (buf.length < 4) return undefined;
  const command = buf[1]!;
  if (buf[2] !== 0x00) {
    throw new ProtocolError("bad_reserved", `request reserved byte ${String(buf[2])}, expected 0`);
  }
  const atyp = buf[3]!;
  let addressEnd: number;
  let address: RequestAddress | undefined;
  let name: InterpretedName | undefined;
  switch (atyp) {
    case AddressType.IPv4:
      addressEnd = 8;
      if (buf.length < addressEnd + 2) return undefined;
      address = { type: "ipv4", host: formatIPv4(buf, 4) };
      break;
    case AddressType.IPv6:
      addressEnd = 20;
      if (buf.length < addressEnd + 2) return undefined;
      address = { type: "ipv6", host: formatIPv6(buf, 4) };
      break;
    case AddressType.DomainName: {
      if (buf.length < 5) return undefined;
      const nameLength = buf[4]!;
      addressEnd = 5 + nameLength;
      if (buf.length < addressEnd + 2) return undefined;
      name = interpretDestinationName(buf.subarray(5, addressEnd));
      if (name.kind !== "refused") address = { type: name.kind === "name" ? "domain" : name.kind, host: name.host };
      break;
    }
    default:
      throw new ProtocolError("unknown_address_type", `address type ${String(atyp)}`);
  }
  // The command is checked after the whole request is read so the reply is sent for a
  // complete request, as RFC 1928 expects.
  if (!KNOWN_COMMANDS.has(command)) {
    throw new ProtocolError("unknown_command", `command ${String(command)}`);
  }
  const port = (buf[addressEnd]! << 8) | buf[addressEnd + 1]!;
  if (address === undefined) {
    const reason = name?.kind === "refused" ? name.reason : "empty_name";
    throw new RefusedNameError(reason, escapeName(buf.subarray(5, addressEnd)), command, port);
  }
  return { value: { command, address, port }, length: addressEnd + 2 };
}

/** A server's reply to a request (RFC 1928 §6), as a client reads it. */
export interface SocksReplyMessage {
  readonly code: number;
  /** The bound address; a domain reply's name is given byte for byte (latin1). */
  readonly address: RequestAddress;
  readonly port: number;
}

/** Parses a reply; `undefined` until it is complete. For clients, tests and load tools. */
export function parseReply(buf: Uint8Array): Parsed<SocksReplyMessage> | undefined {
  if (buf.length < 1) return undefined;
  if (buf[0] !== SOCKS_VERSION) throw new ProtocolError("bad_version", `reply version ${String(buf[0])}, expected 5`);
  if (buf.length < 4) return undefined;
  if (buf[2] !== 0x00) {
    throw new ProtocolError("bad_reserved", `reply reserved byte ${String(buf[2])}, expected 0`);
  }
  let addressEnd: number;
  let address: RequestAddress;
  switch (buf[3]) {
    case AddressType.IPv4:
      addressEnd = 8;
      if (buf.length < addressEnd + 2) return undefined;
      address = { type: "ipv4", host: formatIPv4(buf, 4) };
      break;
    case AddressType.IPv6:
      addressEnd = 20;
      if (buf.length < addressEnd + 2) return undefined;
      address = { type: "ipv6", host: formatIPv6(buf, 4) };
      break;
    case AddressType.DomainName:
      if (buf.length < 5) return undefined;
      addressEnd = 5 + buf[4]!;
      if (buf.length < addressEnd + 2) return undefined;
      address = { type: "domain", host: Buffer.from(buf.subarray(5, addressEnd)).toString("latin1") };
      break;
    default:
      throw new ProtocolError("unknown_address_type", `address type ${String(buf[3])}`);
  }
  const port = (buf[addressEnd]! << 8) | buf[addressEnd + 1]!;
  return { value: { code: buf[1]!, address, port }, length: addressEnd + 2 };
}

/** Four bytes at `offset` as dotted decimal. */
export function formatIPv4(buf: Uint8Array, offset: number): string {
  return `${String(buf[offset])}.${String(buf[offset + 1])}.${String(buf[offset + 2])}.${String(buf[offset + 3])}`;
}

/** Sixteen bytes at `offset` in RFC 5952 text form. */
export function formatIPv6(buf: Uint8Array, offset: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    groups.push(((buf[offset + 2 * i]! << 8) | buf[offset + 2 * i + 1]!).toString(16));
  }
  return compressIPv6(groups);
}
