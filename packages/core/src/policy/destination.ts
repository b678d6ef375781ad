import { isIP } from "node:net";
import { cidrContains, parseCidr } from "./cidr.js";
import type { CidrRange } from "./cidr.js";
import type { ParsedIp } from "./ip.js";

/** What a `to:` entry names: a network, an exact host name, a `*.` wildcard, or any destination. */
export const DestinationKind = {
  /** A network or address: matches the (resolved) destination address. */
  Cidr: 0,
  /** One host name: matches the requested name. */
  Host: 1,
  /** `*.example.com`: any name ending in `.example.com` (not example.com itself). */
  Suffix: 2,
  /** `*`: any destination. */
  Any: 3,
} as const;
export type DestinationKind = (typeof DestinationKind)[keyof typeof DestinationKind];

/** One `to:` entry, compiled. Every field is always present so the matcher sees one shape. */
export interface DestinationPattern {
  readonly kind: DestinationKind;
  readonly range: CidrRange | undefined;
  /** Lower case; for Suffix the leading dot is kept (`.example.com`). */
  readonly name: string;
  readonly portLow: number;
  readonly portHigh: number;
}

/** What a request asks for, prepared once per request. */
export interface DestinationView {
  /** The requested host name, lower case without a trailing dot; undefined for an IP literal. */
  readonly host: string | undefined;
  /** The address that will be dialled (after the one lookup of a host name). */
  readonly address: ParsedIp | undefined;
  readonly port: number;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * `0.0.0.0/0:25`, `10.1.2.3:8000-8100`, `[2001:db8::/32]:443`, `2001:db8::1`, `*.example.com:443`,
 * `mail.example.com`, `*`, `*:25`. Throws a RangeError saying what is wrong.
 */
export function parseDestination(text: string): DestinationPattern {
  const { host, ports } = splitPort(text);
  const [portLow, portHigh] = ports === undefined ? [0, 65535] : parsePortRange(ports, text);
  if (host === "*") return { kind: DestinationKind.Any, range: undefined, name: "", portLow, portHigh };
  const slash = host.indexOf("/");
  if (isIP(slash === -1 ? host : host.slice(0, slash)) !== 0) {
    return { kind: DestinationKind.Cidr, range: parseCidr(host), name: "", portLow, portHigh };
  }
  const lower = host.toLowerCase().replace(/\.$/, "");
  const wildcard = lower.startsWith("*.");
  const labels = (wildcard ? lower.slice(2) : lower).split(".");
  if (lower.length > 253 || !labels.every((label) => LABEL.test(label)) || /^[\d.]+$/.test(lower)) {
    throw new RangeError(
      `${JSON.stringify(text)} is not a CIDR, an IP address, a host name or a *.domain wildcard (each with an optional :port or :low-high)`,
    );
  }
  return wildcard
    ? { kind: DestinationKind.Suffix, range: undefined, name: lower.slice(1), portLow, portHigh }
    : { kind: DestinationKind.Host, range: undefined, name: lower, portLow, portHigh };
}

export function splitPort(text: string): { host: string; ports: string | undefined } {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) throw new RangeError(`${JSON.stringify(text)}: missing ]`);
    const after = text.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw new RangeError(`${JSON.stringify(text)}: expected :port after ]`);
    return { host: text.slice(1, close), ports: after === "" ? undefined : after.slice(1) };
  }
  const first = text.indexOf(":");
  if (first === -1) return { host: text, ports: undefined };
  // Two colons or more: an IPv6 address without a port (write [addr]:port for one with a port).
  if (text.indexOf(":", first + 1) !== -1) return { host: text, ports: undefined };
  return { host: text.slice(0, first), ports: text.slice(first + 1) };
}

export function parsePortRange(text: string, whole: string): [number, number] {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const low = match ? Number(match[1]) : -1;
  const high = match?.[2] !== undefined ? Number(match[2]) : low;
  if (!match || low > 65535 || high > 65535 || low > high) {
    throw new RangeError(`${JSON.stringify(whole)}: expected a port (0-65535) or a range low-high after the colon`);
  }
  return [low, high];
}

/** Whether a request's destination (name, resolved address, port) falls under a compiled `to:` entry. */
export function destinationMatches(pattern: DestinationPattern, view: DestinationView): boolean {
  if (view.port < pattern.portLow || view.port > pattern.portHigh) return false;
  switch (pattern.kind) {
    case DestinationKind.Cidr:
      return view.address !== undefined && cidrContains(pattern.range!, view.address);
    case DestinationKind.Host:
      return view.host === pattern.name;
    case DestinationKind.Suffix:
      return view.host !== undefined && view.host.length > pattern.name.length && view.host.endsWith(pattern.name);
    default:
      return true;
  }
}
