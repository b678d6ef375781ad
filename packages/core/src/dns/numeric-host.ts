import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { parseIpv6Words } from "../policy/ip.js";

/**
 * A host name that is an IP address the way glibc's getaddrinfo(AI_NUMERICHOST) reads one:
 * IPv4 in every inet_aton form (`127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`, `0`), IPv6 as
 * inet_pton reads it with an optional `%zone`, and — as URLs write it — in `[brackets]`.
 */
export interface NumericHost {
  readonly family: 4 | 6;
  /** The address as four unsigned 32-bit words, most significant first (IPv4: `w3` only). */
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  /** IPv6 scope (`%lo`, `%2`), as written. */
  readonly zone: string | undefined;
}

/** The address `text` denotes as a numeric host, or undefined when the resolver would take it for a name. */
export function parseNumericHost(text: string): NumericHost | undefined {
  const v4 = parseInetAton(text);
  if (v4 !== -1) return { family: 4, w0: 0, w1: 0, w2: 0, w3: v4, zone: undefined };
  if (!text.includes(":")) return undefined;
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const percent = bare.indexOf("%");
  const address = percent === -1 ? bare : bare.slice(0, percent);
  if (isIP(address) !== 6) return undefined;
  const [w0, w1, w2, w3] = parseIpv6Words(address) as [number, number, number, number];
  const zone = percent === -1 ? undefined : bare.slice(percent + 1);
  if (zone !== undefined && !isScope(zone, w0)) return undefined;
  return { family: 6, w0, w1, w2, w3, zone };
}

const MAX_PART = [0xffffffff, 0xffffff, 0xffff, 0xff];
const TOO_BIG = 0x100000000;

/**
 * glibc's inet_aton without trailing text (`__inet_aton_exact`, what getaddrinfo uses): one to
 * four parts separated by dots, each decimal, octal (leading 0) or hex (0x); the last part fills
 * the bytes left. Returns the address as an unsigned 32-bit number, or -1.
 */
export function parseInetAton(text: string): number {
  const length = text.length;
  let high = 0; // the parts before the last, shifted into place
  let parts = 0;
  let i = 0;
  for (;;) {
    const first = text.charCodeAt(i);
    if (!(first >= 48 && first <= 57)) return -1; // every part starts with a digit
    let value = 0;
    if (first === 48 && (text.charCodeAt(i + 1) | 0x20) === 120 && hexValue(text.charCodeAt(i + 2)) !== -1) {
      i += 2;
      for (let digit = hexValue(text.charCodeAt(i)); digit !== -1; digit = hexValue(text.charCodeAt(++i))) {
        value = Math.min(value * 16 + digit, TOO_BIG);
      }
    } else {
      // strtoul: a leading 0 is octal, and "0x" without a hex digit is just 0 followed by "x".
      const base = first === 48 ? 8 : 10;
      for (; i < length; i++) {
        const digit = text.charCodeAt(i) - 48;
        if (digit < 0 || digit >= base) break;
        value = Math.min(value * base + digit, TOO_BIG);
      }
    }
    if (value >= TOO_BIG) return -1;
    if (i === length) return value > MAX_PART[parts]! ? -1 : high + value;
    if (text.charCodeAt(i) !== 46 || parts === 3 || value > 0xff) return -1;
    high += value * 2 ** (24 - 8 * parts);
    parts++;
    i++;
  }
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * glibc's `__inet6_scopeid_pton`: a decimal number up to 2^32-1 for any address, or for a
 * link-local (fe80::/10) or link/node-local multicast address the name of an interface.
 */
function isScope(zone: string, w0: number): boolean {
  if (/^\d+$/.test(zone)) return Number(zone) <= 0xffffffff;
  const linkLocal = w0 >>> 22 === 0x3fa;
  const localMulticast = w0 >>> 24 === 0xff && ((w0 >>> 16) & 0xf) >= 1 && ((w0 >>> 16) & 0xf) <= 2;
  return (linkLocal || localMulticast) && Object.hasOwn(networkInterfaces(), zone);
}
