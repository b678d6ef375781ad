import { isIP } from "node:net";

/**
 * An IP address as four 32-bit words (IPv6 order, most significant first). IPv4 and
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) are both `v4` with the address in `w3`, so a rule
 * written for IPv4 matches a client that arrived on a dual-stack socket.
 */
export interface ParsedIp {
  readonly v4: boolean;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** Parses an IPv4 or IPv6 literal (an IPv6 zone `%eth0` is ignored); undefined when it is not one. */
export function parseIp(text: string): ParsedIp | undefined {
  const v4 = parseDottedQuad(text);
  if (v4 !== -1) return { v4: true, w0: 0, w1: 0, w2: 0, w3: v4 };
  if (!text.includes(":")) return undefined;
  const zone = text.indexOf("%");
  const bare = zone === -1 ? text : text.slice(0, zone);
  const family = isIP(bare);
  if (family === 4) return { v4: true, w0: 0, w1: 0, w2: 0, w3: parseIpv4Word(bare) };
  if (family !== 6) return undefined;
  const words = parseIpv6Words(bare);
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
    return { v4: true, w0: 0, w1: 0, w2: 0, w3: words[3]! };
  }
  return { v4: false, w0: words[0]!, w1: words[1]!, w2: words[2]!, w3: words[3]! };
}

/**
 * A dotted quad (no leading zeros, as net.isIPv4) as an unsigned 32-bit number, or -1;
 * the common case of every request, so it is parsed by hand without allocating.
 */
function parseDottedQuad(text: string): number {
  let word = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46) {
      if (digits === 0 || dots === 3) return -1;
      word = word * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (code >= 48 && code <= 57) {
      if (digits > 0 && part === 0) return -1;
      part = part * 10 + (code - 48);
      if (part > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  return dots === 3 && digits > 0 ? word * 256 + part : -1;
}

/** A validated dotted quad as an unsigned 32-bit number. */
function parseIpv4Word(text: string): number {
  let word = 0;
  for (const part of text.split(".")) word = word * 256 + Number(part);
  return word >>> 0;
}

/** A validated IPv6 literal as four unsigned 32-bit words. */
export function parseIpv6Words(text: string): number[] {
  let body = text;
  const lastColon = body.lastIndexOf(":");
  if (body.includes(".", lastColon)) {
    // An embedded dotted quad is the last two groups.
    const v4 = parseIpv4Word(body.slice(lastColon + 1));
    body = `${body.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const hex = (part: string): number[] => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16)));
  const split = body.indexOf("::");
  const head = split === -1 ? hex(body) : hex(body.slice(0, split));
  const rest = split === -1 ? [] : hex(body.slice(split + 2));
  const groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  return [0, 1, 2, 3].map((word) => ((groups[word * 2]! << 16) | groups[word * 2 + 1]!) >>> 0);
}

/** 0.0.0.0/8 and `::` (IPv4-mapped `::ffff:0.0.0.0/104` is v4 here): "this host", which Linux dials as loopback. */
export function isUnspecifiedAddress(ip: ParsedIp): boolean {
  return ip.v4 ? ip.w3 >>> 24 === 0 : (ip.w0 | ip.w1 | ip.w2 | ip.w3) === 0;
}
