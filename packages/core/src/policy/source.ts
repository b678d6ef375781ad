import { cidrContains, parseCidr } from "./cidr.js";
import type { CidrRange } from "./cidr.js";
import type { ParsedIp } from "./ip.js";
import { parsePortRange, splitPort } from "./destination.js";

/** One `source:` entry, compiled: a network, and the ports it names (any, when none are written). */
export interface SourcePattern {
  readonly range: CidrRange;
  readonly portLow: number;
  readonly portHigh: number;
  /** The entry was written with `:port` or `:low-high`: a BIND may ask for those ports. */
  readonly namesPort: boolean;
}

/**
 * `192.0.2.0/28`, `192.0.2.5:2525`, `192.0.2.0/28:1024-2047`, `2001:db8::/32`,
 * `[2001:db8::5]:25`. Throws a RangeError saying what is wrong.
 */
export function parseSource(text: string): SourcePattern {
  const { host, ports } = splitPort(text);
  const [portLow, portHigh] = ports === undefined ? [0, 65535] : parsePortRange(ports, text);
  return { range: parseCidr(host), portLow, portHigh, namesPort: ports !== undefined };
}

/** Whether `address` and `port` fall under one compiled `source:` entry. */
export function sourceMatches(pattern: SourcePattern, address: ParsedIp, port: number): boolean {
  return port >= pattern.portLow && port <= pattern.portHigh && cidrContains(pattern.range, address);
}

/** Whether one of `patterns` matches and names the port explicitly. */
export function sourcePortNamed(
  patterns: readonly SourcePattern[] | undefined,
  address: ParsedIp,
  port: number,
): boolean {
  if (patterns === undefined) return false;
  for (let i = 0; i < patterns.length; i++) {
    const pattern = patterns[i]!;
    if (pattern.namesPort && sourceMatches(pattern, address, port)) return true;
  }
  return false;
}
