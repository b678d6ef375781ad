// Builds the client's side of a SOCKS5 handshake (RFC 1928, RFC 1929) as bytes.
import { Buffer } from "node:buffer";
import { isIPv4, isIPv6 } from "node:net";

export const CMD = { connect: 1, bind: 2, udp: 3 };
export const ATYP = { ipv4: 1, domain: 3, ipv6: 4 };

export function greeting(methods) {
  return Uint8Array.from([5, methods.length & 0xff, ...methods]);
}

/** RFC 1929 username/password; fields longer than 255 bytes are sent with a lying length byte. */
export function userPass(username, password) {
  const user = Buffer.from(username, "utf8");
  const pass = Buffer.from(password, "utf8");
  return Uint8Array.from([1, user.length & 0xff, ...user, pass.length & 0xff, ...pass]);
}

/** A request; `address` is {type: "ipv4"|"ipv6", host} or {type: "domain", bytes: Uint8Array}. */
export function request(command, address, port) {
  const head = [5, command, 0];
  let body;
  if (address.type === "ipv4") body = [ATYP.ipv4, ...ipv4Bytes(address.host)];
  else if (address.type === "ipv6") body = [ATYP.ipv6, ...ipv6Bytes(address.host)];
  else body = [ATYP.domain, address.bytes.length & 0xff, ...address.bytes];
  return Uint8Array.from([...head, ...body, (port >> 8) & 0xff, port & 0xff]);
}

export function ipv4Bytes(host) {
  if (!isIPv4(host)) throw new Error(`not IPv4: ${host}`);
  return host.split(".").map(Number);
}

export function ipv6Bytes(host) {
  if (!isIPv6(host)) throw new Error(`not IPv6: ${host}`);
  const [head = "", tail] = host.split("::");
  const groups = (part) => (part === "" ? [] : part.split(":"));
  const expand = (parts) =>
    parts.flatMap((part) => {
      if (!part.includes(".")) return [parseInt(part, 16)];
      const [a, b, c, d] = ipv4Bytes(part);
      return [(a << 8) | b, (c << 8) | d];
    });
  const left = expand(groups(head));
  const right = tail === undefined ? [] : expand(groups(tail));
  const all = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

export function concat(parts) {
  return Uint8Array.from(Buffer.concat(parts.map((part) => Buffer.from(part))));
}

export function hex(bytes) {
  return Buffer.from(bytes).toString("hex");
}
