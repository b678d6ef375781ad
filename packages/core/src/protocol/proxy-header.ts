import { isIPv4, isIPv6 } from "node:net";
import { compressIPv6, formatIPv4Word } from "./destination-name.js";
import type { Parsed } from "./parse.js";

/**
 * The PROXY protocol header a load balancer (HAProxy, a cloud NLB) puts in front of a
 * connection to say who the client is — HAProxy's specification (doc/proxy-protocol.txt),
 * versions 1 (one text line) and 2 (binary). Parsed like the SOCKS messages: from the bytes
 * received so far, `undefined` while more are needed, never past the header's end (the bytes
 * after it are the client's SOCKS greeting), and a ProxyHeaderError as soon as the bytes can
 * no longer become a header this listener accepts. Nothing is ever read past
 * PROXY_HEADER_MAX_BYTES.
 */

export type ProxyProtocolVersion = 1 | 2;

/** One end of the proxied connection. */
export interface ProxiedEndpoint {
  /** IPv4 dotted quad or RFC 5952 IPv6 (an IPv4-mapped IPv6 address is shown as IPv4). */
  readonly address: string;
  readonly port: number;
}

/** A parsed PROXY header: which version, which command, and the addresses it carries. */
export interface ProxyHeader {
  readonly version: ProxyProtocolVersion;
  /**
   * `local`: the balancer's own connection (a v2 health check) — the socket's addresses stand.
   * `proxy`: relayed for a client, whose addresses follow unless the sender did not know them
   * (v1 `UNKNOWN`, v2 `AF_UNSPEC`), when the socket's addresses stand too.
   */
  readonly command: "local" | "proxy";
  /** The client: undefined for `local` and for unknown addresses. */
  readonly source: ProxiedEndpoint | undefined;
  /** The address the client connected to (the balancer's front end). */
  readonly destination: ProxiedEndpoint | undefined;
}

/** Why bytes are not a header this listener accepts. */
export type ProxyHeaderRefusal =
  /** Neither signature: the client spoke something else (often SOCKS straight away). */
  | "missing"
  /** A valid signature of a version the listener does not accept. */
  | "version_not_enabled"
  /** The bytes break the specification. */
  | "malformed"
  /** Longer than PROXY_HEADER_MAX_BYTES (v2) or no CRLF within 107 bytes (v1). */
  | "oversized"
  /** v2 AF_UNIX: there is no IP address to apply the listener's rules to. */
  | "unsupported_family"
  /** v2 DGRAM (or no transport given with addresses): this listener carries TCP only. */
  | "unsupported_protocol";

/** Bytes that are not a PROXY header this listener accepts; `reason` says why. */
export class ProxyHeaderError extends Error {
  constructor(
    readonly reason: ProxyHeaderRefusal,
    message: string,
  ) {
    super(message);
    this.name = "ProxyHeaderError";
  }
}

/** The specification's longest v1 line, CRLF included. */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * A v2 header (16 fixed bytes + addresses + TLVs) is bounded by the smallest TCP segment every
 * host must accept (576 - 40), the size the specification designs both versions to fit in so
 * that a header always arrives at once. Longer ones are refused, not buffered.
 */
export const PROXY_HEADER_MAX_BYTES = 536;

const V1_PREFIX = Buffer.from("PROXY ", "latin1");
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_BYTES = 16;
const CR = 0x0d;
const LF = 0x0a;

const Family = { Unspec: 0, Inet: 1, Inet6: 2, Unix: 3 } as const;
const Transport = { Unspec: 0, Stream: 1, Dgram: 2 } as const;

/**
 * Parses a PROXY header of one of `versions` from the bytes received so far. Returns the
 * header and its length, or undefined when more bytes are needed; throws ProxyHeaderError
 * as soon as the bytes cannot be one.
 */
export function parseProxyHeader(
  buf: Uint8Array,
  versions: readonly ProxyProtocolVersion[],
): Parsed<ProxyHeader> | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === V1_PREFIX[0]) {
    if (!matchesPrefix(buf, V1_PREFIX)) throw missing();
    if (buf.length < V1_PREFIX.length) return undefined;
    if (!versions.includes(1))
      throw new ProxyHeaderError("version_not_enabled", "PROXY protocol v1 is not enabled here");
    return parseV1(buf);
  }
  if (buf[0] === V2_SIGNATURE[0]) {
    if (!matchesPrefix(buf, V2_SIGNATURE)) throw missing();
    if (buf.length < V2_SIGNATURE.length + 1) return undefined;
    const version = buf[12]! >> 4;
    if (version !== 2) throw new ProxyHeaderError("malformed", `v2 signature with version ${String(version)}`);
    if (!versions.includes(2))
      throw new ProxyHeaderError("version_not_enabled", "PROXY protocol v2 is not enabled here");
    return parseV2(buf);
  }
  throw missing();
}

function missing(): ProxyHeaderError {
  return new ProxyHeaderError("missing", "the connection did not start with a PROXY protocol header");
}

/** Whether the bytes so far agree with `prefix` (as far as either goes). */
function matchesPrefix(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

// --- Version 1: `PROXY TCP4 src dst sport dport\r\n` ------------------------------------------

function parseV1(buf: Uint8Array): Parsed<ProxyHeader> | undefined {
  // The CR may be at most the 106th byte, so that the CRLF ends within PROXY_V1_MAX_BYTES.
  const lastCr = PROXY_V1_MAX_BYTES - 2;
  const limit = Math.min(buf.length, lastCr + 1);
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const byte = buf[i]!;
    if (byte === CR) {
      if (i + 1 === buf.length) return undefined;
      if (buf[i + 1] !== LF) throw new ProxyHeaderError("malformed", "v1: CR not followed by LF");
      return { value: parseV1Line(Buffer.from(buf.buffer, buf.byteOffset, i).toString("latin1")), length: i + 2 };
    }
    // Printable US-ASCII only: anything else cannot be part of a valid line, so refuse now.
    if (byte < 0x20 || byte > 0x7e) throw new ProxyHeaderError("malformed", `v1: byte 0x${hex(byte)} in the line`);
  }
  if (buf.length > lastCr) {
    throw new ProxyHeaderError("oversized", `v1: no CRLF within ${String(PROXY_V1_MAX_BYTES)} bytes`);
  }
  return undefined;
}

function parseV1Line(line: string): ProxyHeader {
  const fields = line.split(" ");
  const protocol = fields[1];
  // UNKNOWN: the rest of the line is to be ignored, and the socket's addresses stand.
  if (protocol === "UNKNOWN") return { version: 1, command: "proxy", source: undefined, destination: undefined };
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    throw new ProxyHeaderError("malformed", `v1: protocol ${JSON.stringify(protocol)}, expected TCP4, TCP6 or UNKNOWN`);
  }
  if (fields.length !== 6) throw new ProxyHeaderError("malformed", `v1: ${String(fields.length)} fields, expected 6`);
  const v4 = protocol === "TCP4";
  return {
    version: 1,
    command: "proxy",
    source: { address: v1Address(fields[2]!, v4), port: v1Port(fields[4]!) },
    destination: { address: v1Address(fields[3]!, v4), port: v1Port(fields[5]!) },
  };
}

function v1Address(text: string, v4: boolean): string {
  if (v4) {
    // net.isIPv4 refuses leading zeroes, as the specification requires.
    if (isIPv4(text)) return text;
    throw new ProxyHeaderError("malformed", `v1: ${JSON.stringify(text)} is not an IPv4 address`);
  }
  // Hex groups only: no zone, no embedded dotted quad.
  if (/^[0-9a-fA-F:]+$/.test(text) && isIPv6(text)) return canonicalIPv6(text);
  throw new ProxyHeaderError("malformed", `v1: ${JSON.stringify(text)} is not an IPv6 address`);
}

function v1Port(text: string): number {
  const port = /^(?:0|[1-9][0-9]{0,4})$/.test(text) ? Number(text) : -1;
  if (port < 0 || port > 65535) throw new ProxyHeaderError("malformed", `v1: ${JSON.stringify(text)} is not a port`);
  return port;
}

/** Any valid IPv6 text (hex groups) in RFC 5952 form, IPv4-mapped shown as IPv4. */
function canonicalIPv6(text: string): string {
  const bytes = Buffer.alloc(16);
  writeIPv6Groups(bytes, 0, text);
  return ipv6FromBytes(bytes, 0);
}

/** Writes IPv6 text made of hex groups (at most one `::`) as 16 bytes. */
function writeIPv6Groups(out: Buffer, offset: number, text: string): void {
  const split = text.indexOf("::");
  const groups = (part: string): string[] => (part === "" ? [] : part.split(":"));
  const head = split === -1 ? groups(text) : groups(text.slice(0, split));
  const tail = split === -1 ? [] : groups(text.slice(split + 2));
  const all = [...head, ...new Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
  all.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), offset + i * 2));
}

// --- Version 2: signature, version/command, family/transport, length, addresses, TLVs -------------

function parseV2(buf: Uint8Array): Parsed<ProxyHeader> | undefined {
  const command = buf[12]! & 0x0f;
  if (command > 1) throw new ProxyHeaderError("malformed", `v2: command ${String(command)}, expected LOCAL or PROXY`);
  if (buf.length < 14) return undefined;
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  if (family > Family.Unix) throw new ProxyHeaderError("malformed", `v2: address family ${String(family)}`);
  if (transport > Transport.Dgram) throw new ProxyHeaderError("malformed", `v2: transport ${String(transport)}`);
  if (buf.length < V2_FIXED_BYTES) return undefined;
  const length = V2_FIXED_BYTES + ((buf[14]! << 8) | buf[15]!);
  if (length > PROXY_HEADER_MAX_BYTES) {
    throw new ProxyHeaderError("oversized", `v2: ${String(length)} bytes, at most ${String(PROXY_HEADER_MAX_BYTES)}`);
  }
  if (buf.length < length) return undefined;
  const block = Buffer.from(buf.buffer, buf.byteOffset + V2_FIXED_BYTES, length - V2_FIXED_BYTES);
  // LOCAL: the family and the whole block are to be ignored.
  if (command === 0)
    return { value: { version: 2, command: "local", source: undefined, destination: undefined }, length };
  if (family === Family.Unspec) {
    return { value: { version: 2, command: "proxy", source: undefined, destination: undefined }, length };
  }
  if (family === Family.Unix) throw new ProxyHeaderError("unsupported_family", "v2: AF_UNIX addresses");
  if (transport !== Transport.Stream) {
    throw new ProxyHeaderError(
      "unsupported_protocol",
      `v2: transport ${transport === 2 ? "DGRAM" : "UNSPEC"}, expected STREAM`,
    );
  }
  const addressBytes = family === Family.Inet ? 4 : 16;
  const addressBlock = 2 * addressBytes + 4;
  if (block.length < addressBlock) {
    throw new ProxyHeaderError(
      "malformed",
      `v2: ${String(block.length)} address bytes, expected ${String(addressBlock)}`,
    );
  }
  checkTlvs(block.subarray(addressBlock));
  const address = (offset: number): string =>
    family === Family.Inet ? formatIPv4Word(block.readUInt32BE(offset)) : ipv6FromBytes(block, offset);
  const ports = 2 * addressBytes;
  return {
    value: {
      version: 2,
      command: "proxy",
      source: { address: address(0), port: block.readUInt16BE(ports) },
      destination: { address: address(addressBytes), port: block.readUInt16BE(ports + 2) },
    },
    length,
  };
}

/** TLVs are skipped, but they must tile the rest of the header exactly. */
function checkTlvs(tlvs: Buffer): void {
  let offset = 0;
  while (offset < tlvs.length) {
    if (offset + 3 > tlvs.length) throw new ProxyHeaderError("malformed", "v2: truncated TLV");
    offset += 3 + tlvs.readUInt16BE(offset + 1);
    if (offset > tlvs.length) throw new ProxyHeaderError("malformed", "v2: a TLV runs past the header");
  }
}

function ipv6FromBytes(bytes: Uint8Array, offset: number): string {
  let mapped = bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = bytes[offset + i] === 0;
  if (mapped) return Array.from(bytes.subarray(offset + 12, offset + 16)).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[offset + i]! << 8) | bytes[offset + i + 1]!).toString(16));
  return compressIPv6(groups);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

// --- Writing (for clients and tests) --------------------------------------------------------------

/** A v1 line for `source` → `destination` (both of one family), or `PROXY UNKNOWN\r\n` without them. */
export function serializeProxyHeaderV1(source?: ProxiedEndpoint, destination?: ProxiedEndpoint): Buffer {
  if (source === undefined || destination === undefined) return Buffer.from("PROXY UNKNOWN\r\n", "latin1");
  const protocol = isIPv4(source.address) ? "TCP4" : "TCP6";
  const fields = [protocol, source.address, destination.address, String(source.port), String(destination.port)];
  return Buffer.from(`PROXY ${fields.join(" ")}\r\n`, "latin1");
}

/** A TLV to append to a v2 header (skipped by this parser). */
export interface ProxyHeaderTlv {
  readonly type: number;
  readonly value: Uint8Array;
}

/**
 * A v2 header: PROXY for `source` → `destination` over TCP, or LOCAL when `source` is
 * undefined; `tlvs` follow the addresses.
 */
export function serializeProxyHeaderV2(
  source: ProxiedEndpoint | undefined,
  destination: ProxiedEndpoint | undefined,
  tlvs: readonly ProxyHeaderTlv[] = [],
): Buffer {
  const tlvBytes = Buffer.concat(
    tlvs.map(({ type, value }) => {
      const head = Buffer.from([type, value.length >> 8, value.length & 0xff]);
      return Buffer.concat([head, value]);
    }),
  );
  let command = 0x20;
  let family = 0x00;
  let addresses = Buffer.alloc(0);
  if (source !== undefined && destination !== undefined) {
    command = 0x21;
    const v4 = isIPv4(source.address);
    family = v4 ? 0x11 : 0x21;
    const width = v4 ? 4 : 16;
    addresses = Buffer.alloc(2 * width + 4);
    writeAddress(addresses, 0, source.address, v4);
    writeAddress(addresses, width, destination.address, v4);
    addresses.writeUInt16BE(source.port, 2 * width);
    addresses.writeUInt16BE(destination.port, 2 * width + 2);
  }
  const fixed = Buffer.alloc(V2_FIXED_BYTES);
  V2_SIGNATURE.copy(fixed, 0);
  fixed[12] = command;
  fixed[13] = family;
  fixed.writeUInt16BE(addresses.length + tlvBytes.length, 14);
  return Buffer.concat([fixed, addresses, tlvBytes]);
}

/** An IPv4 dotted quad, or IPv6 written as hex groups. */
function writeAddress(out: Buffer, offset: number, address: string, v4: boolean): void {
  if (v4) address.split(".").forEach((part, i) => (out[offset + i] = Number(part)));
  else writeIPv6Groups(out, offset, address);
}
