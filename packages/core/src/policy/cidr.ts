import { parseIp } from "./ip.js";
import type { ParsedIp } from "./ip.js";

/**
 * A network as masked words: an address matches when `(word & mask) === base` for all four
 * words (signed 32-bit arithmetic on both sides, so no conversions in the hot path).
 */
export interface CidrRange {
  readonly v4: boolean;
  readonly b0: number;
  readonly b1: number;
  readonly b2: number;
  readonly b3: number;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address; throws a RangeError saying what is wrong. */
export function parseCidr(text: string): CidrRange {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const ip = parseIp(addressText);
  if (ip === undefined || addressText.includes("%")) {
    throw new RangeError(`${JSON.stringify(text)} is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)`);
  }
  const mapped = ip.v4 && addressText.includes(":");
  const bits = ip.v4 && !mapped ? 32 : 128;
  let length = bits;
  if (slash !== -1) {
    const lengthText = text.slice(slash + 1);
    length = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : -1;
    if (length < 0 || length > bits) {
      throw new RangeError(`${JSON.stringify(text)}: prefix length must be 0..${String(bits)}`);
    }
  }
  // An IPv4-mapped IPv6 network is an IPv4 one: its prefix counts from bit 96.
  if (mapped) {
    if (length < 96) throw new RangeError(`${JSON.stringify(text)}: an IPv4-mapped prefix must be at least 96`);
    length -= 96;
  }
  const ones = (fromBit: number): number => {
    const count = Math.max(0, Math.min(32, length - fromBit));
    return count === 0 ? 0 : (0xffffffff << (32 - count)) | 0;
  };
  const m = ip.v4 ? [0, 0, 0, ones(0)] : [ones(0), ones(32), ones(64), ones(96)];
  return {
    v4: ip.v4,
    b0: ip.w0 & m[0]!,
    b1: ip.w1 & m[1]!,
    b2: ip.w2 & m[2]!,
    b3: ip.w3 & m[3]!,
    m0: m[0]!,
    m1: m[1]!,
    m2: m[2]!,
    m3: m[3]!,
  };
}

/** Whether `ip` lies in `range` (same address family only). */
export function cidrContains(range: CidrRange, ip: ParsedIp): boolean {
  return (
    range.v4 === ip.v4 &&
    (ip.w3 & range.m3) === range.b3 &&
    (ip.w2 & range.m2) === range.b2 &&
    (ip.w1 & range.m1) === range.b1 &&
    (ip.w0 & range.m0) === range.b0
  );
}

export function anyCidrContains(ranges: readonly CidrRange[], ip: ParsedIp): boolean {
  for (let i = 0; i < ranges.length; i++) if (cidrContains(ranges[i]!, ip)) return true;
  return false;
}
