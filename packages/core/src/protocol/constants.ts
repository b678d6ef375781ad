/** The SOCKS protocol version byte (RFC 1928). */
export const SOCKS_VERSION = 0x05;
/** The username/password sub-negotiation version byte (RFC 1929). */
export const USERPASS_VERSION = 0x01;

/** RFC 1928 §3 authentication method numbers. */
export const Method = {
  NoAuth: 0x00,
  GssApi: 0x01,
  UserPass: 0x02,
  NoAcceptable: 0xff,
} as const;

/** RFC 1928 §4 request commands. */
export const Command = {
  Connect: 0x01,
  Bind: 0x02,
  UdpAssociate: 0x03,
} as const;

/** RFC 1928 §4 address types (ATYP). */
export const AddressType = {
  IPv4: 0x01,
  DomainName: 0x03,
  IPv6: 0x04,
} as const;

/** RFC 1928 §6 reply field values. */
export const Reply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowedByRuleset: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;
/** One of the Reply values. */
export type ReplyCode = (typeof Reply)[keyof typeof Reply];

/** RFC 1929 status bytes. */
export const AuthStatus = {
  Success: 0x00,
  Failure: 0x01,
} as const;
