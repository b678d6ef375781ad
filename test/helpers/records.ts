import type { Socket } from "node:net";
import type { SessionRecord } from "@gatehouse-proxy/core/engine";
import type { TestProxy } from "./proxy.js";

/** The proxy's `peer` text for a client socket (`ip:port`, IPv6 in brackets). */
export function peerOf(socket: Socket): string {
  const address = socket.localAddress ?? "";
  return address.includes(":") ? `[${address}]:${socket.localPort}` : `${address}:${socket.localPort}`;
}

/** Waits for the session record of the connection `socket` is the client end of. */
export async function recordOf(proxy: TestProxy, socket: Socket | string, timeoutMs = 5000): Promise<SessionRecord> {
  const peer = typeof socket === "string" ? socket : peerOf(socket);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = proxy.sessions.find((record) => record.peer === peer);
    if (found !== undefined) return found;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`no session record for ${peer} within ${timeoutMs} ms`);
    await proxy.sessionsEnded(proxy.sessions.length + 1, remaining).catch(() => undefined);
  }
}
