import type { SessionRecord } from "@gatehouse-proxy/core/engine";

/** A CONNECT whose outbound dial was started (the destination address was resolved). */
export function sessionDialedOut(record: SessionRecord): boolean {
  return record.command === "connect" && record.destinationAddress !== undefined;
}

/** Whether the session had a tunnel (the CONNECT succeeded and the relay started). */
export function sessionHadTunnel(record: SessionRecord): boolean {
  return record.tunnel;
}
