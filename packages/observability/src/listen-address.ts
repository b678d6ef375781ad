import { parseHostPort } from "@gatehouse-proxy/core/engine";

/** The admin listener's default: loopback only. */
export const DEFAULT_ADMIN_LISTEN = "127.0.0.1:9090";

/** `host:port` (`[v6]:port`); throws a message naming what was expected. */
export function parseAdminListen(listen: string): { host: string; port: number } {
  const address = parseHostPort(listen);
  if (address === undefined) {
    throw new Error(`admin.listen: expected host:port such as ${DEFAULT_ADMIN_LISTEN} or [::1]:9090, got "${listen}"`);
  }
  return address;
}
