/** `host:port` for a log line, IPv6 in brackets. */
export function formatAddress(address: { address: string; port: number; family?: string }): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `${host}:${String(address.port)}`;
}
