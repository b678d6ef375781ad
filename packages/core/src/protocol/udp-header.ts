import { isIPv6 } from "node:net";
import { AddressType } from "./constants.js";
import { escapeName, interpretDestinationName } from "./destination-name.js";
import type { NameRefusal } from "./destination-name.js";
import { formatIPv4, formatIPv6 } from "./parse.js";
import type { RequestAddress } from "./parse.js";
import { serializeAddress, unmapIPv4 } from "./serialize.js";

/**
 * The header in front of every UDP ASSOCIATE datagram (RFC 1928 §7):
 * `RSV(2) FRAG(1) ATYP(1) DST.ADDR DST.PORT(2)`, then the payload. Names are validated as in a
 * TCP request (interpretDestinationName); there is no reassembly, so FRAG must be 0.
 */
export interface UdpDatagramHeader {
  readonly ok: true;
  readonly address: RequestAddress;
  readonly port: number;
  /** Where the payload starts. */
  readonly length: number;
}

/** Why a datagram's header was refused (the datagram is dropped, never answered). */
export type UdpHeaderRefusal = "truncated" | "bad_reserved" | "fragmented" | "unknown_address_type" | "refused_name";

/** A datagram whose header parseUdpHeader refused: why (the datagram is dropped). */
export interface RefusedUdpHeader {
  readonly ok: false;
  readonly reason: UdpHeaderRefusal;
  /** refused_name: which rule the name broke, and the name escaped for a log line. */
  readonly nameRefusal?: NameRefusal;
  readonly shownName?: string;
}

const TRUNCATED: RefusedUdpHeader = { ok: false, reason: "truncated" };
const BAD_RESERVED: RefusedUdpHeader = { ok: false, reason: "bad_reserved" };
const FRAGMENTED: RefusedUdpHeader = { ok: false, reason: "fragmented" };
const UNKNOWN_ADDRESS_TYPE: RefusedUdpHeader = { ok: false, reason: "unknown_address_type" };

/** Parses one whole datagram's header. Never throws: a datagram is dropped, not answered. */
export function parseUdpHeader(datagram: Uint8Array): UdpDatagramHeader | RefusedUdpHeader {
  if (datagram.length < 4) return TRUNCATED;
  if (datagram[0] !== 0 || datagram[1] !== 0) return BAD_RESERVED;
  if (datagram[2] !== 0) return FRAGMENTED;
  let addressEnd: number;
  let address: RequestAddress;
  switch (datagram[3]) {
    case AddressType.IPv4:
      addressEnd = 8;
      if (datagram.length < addressEnd + 2) return TRUNCATED;
      address = { type: "ipv4", host: formatIPv4(datagram, 4) };
      break;
    case AddressType.IPv6:
      addressEnd = 20;
      if (datagram.length < addressEnd + 2) return TRUNCATED;
      address = { type: "ipv6", host: formatIPv6(datagram, 4) };
      break;
    case AddressType.DomainName: {
      if (datagram.length < 5) return TRUNCATED;
      addressEnd = 5 + datagram[4]!;
      if (datagram.length < addressEnd + 2) return TRUNCATED;
      const nameBytes = datagram.subarray(5, addressEnd);
      const name = interpretDestinationName(nameBytes);
      if (name.kind === "refused") {
        return { ok: false, reason: "refused_name", nameRefusal: name.reason, shownName: escapeName(nameBytes) };
      }
      address = { type: name.kind === "name" ? "domain" : name.kind, host: name.host };
      break;
    }
    default:
      return UNKNOWN_ADDRESS_TYPE;
  }
  const port = (datagram[addressEnd]! << 8) | datagram[addressEnd + 1]!;
  return { ok: true, address, port, length: addressEnd + 2 };
}

/**
 * The header the relay puts in front of a destination's reply: the destination's IP address
 * and port (ATYP 1 or 4; an IPv4-mapped address as IPv4). Built once per destination.
 */
export function serializeUdpReplyHeader(address: string, port: number): Buffer {
  const host = unmapIPv4(address);
  return Buffer.concat([Buffer.from([0, 0, 0]), serializeAddress(host, port, false)]);
}

/** A client's datagram: header (FRAG 0 unless given) then payload. For clients, tests and load tools. */
export function serializeUdpDatagram(
  host: string,
  port: number,
  payload: Uint8Array,
  options: { readonly asDomainName?: boolean; readonly frag?: number } = {},
): Buffer {
  const asDomainName = options.asDomainName ?? (!isIPv6(host) && !/^\d+\.\d+\.\d+\.\d+$/.test(host));
  return Buffer.concat([Buffer.from([0, 0, options.frag ?? 0]), serializeAddress(host, port, asDomainName), payload]);
}
