/**
 * The client's IP from a `peer_address`: `1.2.3.4:5000` → `1.2.3.4`, `[::1]:5000` → `::1`.
 * Anything else (a bare address, `unknown`) is returned as it is.
 */
export function clientAddress(peerAddress: string): string {
  if (peerAddress.startsWith("[")) {
    const end = peerAddress.indexOf("]");
    return end > 1 ? peerAddress.slice(1, end) : peerAddress;
  }
  const colon = peerAddress.lastIndexOf(":");
  // More than one colon without brackets is a bare IPv6 address, not host:port.
  if (colon <= 0 || peerAddress.indexOf(":") !== colon) return peerAddress;
  return peerAddress.slice(0, colon);
}
