import { isIPv6 } from "node:net";
import { unmapIPv4 } from "../protocol/serialize.js";

/** `ip:port`, with IPv6 in brackets and IPv4-mapped IPv6 shown as IPv4. */
export function formatSocketAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return "unknown";
  return formatHostPort(unmapIPv4(address), port ?? 0);
}

export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${String(port)}` : `${host}:${String(port)}`;
}
