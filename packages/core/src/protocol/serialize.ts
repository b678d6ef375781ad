import { isIPv4, isIPv6 } from "node:net";
import { AddressType, AuthStatus, Method, SOCKS_VERSION, USERPASS_VERSION } from "./constants.js";
import type { ReplyCode } from "./constants.js";

/** The server's method-selection reply: `05 <method>`. */
export function methodSelection(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

/** `05 FF`: none of the client's methods is acceptable; the server closes after it. */
export const NO_ACCEPTABLE_METHODS = methodSelection(Method.NoAcceptable);
/** RFC 1929 status `01 00`: the credentials were accepted. */
export const AUTH_SUCCESS = Buffer.from([USERPASS_VERSION, AuthStatus.Success]);
/** RFC 1929 status `01 01`: the credentials were refused; the server closes after it. */
export const AUTH_FAILURE = Buffer.from([USERPASS_VERSION, AuthStatus.Failure]);

/**
 * A reply is always full length with ATYP IPv4 or IPv6 (never a short or domain reply):
 * clients such as kumod read a fixed-size reply. Unknown or absent addresses become 0.0.0.0:0,
 * and IPv4-mapped IPv6 addresses are sent as IPv4.
 */
export function serializeReply(code: ReplyCode, address?: string, port = 0): Buffer {
  const host = address === undefined ? "0.0.0.0" : unmapIPv4(address);
  if (isIPv6(host)) {
    const out = Buffer.alloc(22);
    out[0] = SOCKS_VERSION;
    out[1] = code;
    out[3] = AddressType.IPv6;
    writeIPv6(out, 4, host);
    out.writeUInt16BE(port, 20);
    return out;
  }
  const out = Buffer.alloc(10);
  out[0] = SOCKS_VERSION;
  out[1] = code;
  out[3] = AddressType.IPv4;
  if (isIPv4(host)) {
    const parts = host.split(".");
    for (let i = 0; i < 4; i++) out[4 + i] = Number(parts[i]);
    out.writeUInt16BE(port, 8);
  }
  return out;
}

const failureReplies = new Map<ReplyCode, Buffer>();

/** Failure replies carry no address; they are built once and shared. */
export function failureReply(code: ReplyCode): Buffer {
  let reply = failureReplies.get(code);
  if (reply === undefined) {
    reply = serializeReply(code);
    failureReplies.set(code, reply);
  }
  return reply;
}

export function unmapIPv4(address: string): string {
  return address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function writeIPv6(out: Buffer, offset: number, address: string): void {
  const withoutZone = address.split("%")[0]!;
  let text = withoutZone;
  // An embedded IPv4 tail (::ffff:1.2.3.4 not unmapped, or 64:ff9b::1.2.3.4) becomes two groups.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (isIPv4(tail)) {
    const p = tail.split(".").map(Number);
    const hi = ((p[0]! << 8) | p[1]!).toString(16);
    const lo = ((p[2]! << 8) | p[3]!).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const [headText, tailText] = text.includes("::") ? text.split("::") : [text, undefined];
  const head = headText ? headText.split(":") : [];
  const rest = tailText ? tailText.split(":") : [];
  const groups =
    tailText === undefined ? head : [...head, ...Array<string>(8 - head.length - rest.length).fill("0"), ...rest];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? "0", 16), offset + 2 * i);
}

/** Byte-level request builders: used by clients, tests and the load tools. */
export function serializeGreeting(methods: readonly number[]): Buffer {
  return Buffer.from([SOCKS_VERSION, methods.length, ...methods]);
}

/** A client's RFC 1929 username/password request (each field at most 255 bytes); for clients and tests. */
export function serializeUserPass(username: Uint8Array, password: Uint8Array): Buffer {
  if (username.length > 255 || password.length > 255) {
    throw new RangeError("RFC 1929 username and password are at most 255 bytes");
  }
  return Buffer.concat([
    Buffer.from([USERPASS_VERSION, username.length]),
    username,
    Buffer.from([password.length]),
    password,
  ]);
}

/** `asDomainName` sends even an IP literal as ATYP 3, as some clients do. */
export function serializeRequest(command: number, host: string, port: number, asDomainName = false): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, command, 0x00]), serializeAddress(host, port, asDomainName)]);
}

/** ATYP, DST.ADDR and DST.PORT as requests and UDP datagram headers carry them. */
export function serializeAddress(host: string, port: number, asDomainName = false): Buffer {
  let address: Buffer;
  if (!asDomainName && isIPv4(host)) {
    address = Buffer.from([AddressType.IPv4, ...host.split(".").map(Number)]);
  } else if (!asDomainName && isIPv6(host)) {
    address = Buffer.alloc(17);
    address[0] = AddressType.IPv6;
    writeIPv6(address, 1, host);
  } else {
    const name = Buffer.from(host, "utf8");
    if (name.length === 0 || name.length > 255) throw new RangeError("domain name must be 1..255 bytes");
    address = Buffer.concat([Buffer.from([AddressType.DomainName, name.length]), name]);
  }
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([address, portBytes]);
}
