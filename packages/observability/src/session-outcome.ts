import type { SessionRecord } from "@gatehouse-proxy/core/engine";

/** A CONNECT whose outbound dial was started (the destination address was resolved). */
export function sessionDialedOut(record: SessionRecord): boolean {
  return record.command === "connect" && record.destinationAddress !== undefined;
}

/** Whether the session had a tunnel (the CONNECT succeeded and the relay started). */
export function sessionHadTunnel(record: SessionRecord): boolean {
  return record.tunnel;
}

const PROXY_HEADER_REFUSED = "proxy_header:";

/** Why a listener with `proxy_protocol` refused the connection's PROXY header; undefined when it did not. */
export function proxyHeaderRefusal(record: SessionRecord): string | undefined {
  return record.reason.startsWith(PROXY_HEADER_REFUSED) ? record.reason.slice(PROXY_HEADER_REFUSED.length) : undefined;
}

/** A load balancer's health check: a PROXY v2 LOCAL header, then the connection closed. */
export function sessionWasHealthCheck(record: SessionRecord): boolean {
  return record.reason === "health_check";
}
