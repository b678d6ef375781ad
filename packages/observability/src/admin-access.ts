import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Who made an admin request: the peer's `ip:port`, and whether it proved the admin token. */
export interface AdminCaller {
  readonly peer: string;
  readonly token: boolean;
}

export type AccessVerdict =
  | { readonly allowed: true; readonly caller: AdminCaller }
  | {
      readonly allowed: false;
      readonly caller: AdminCaller;
      readonly status: 401 | 403;
      readonly error: string;
      /** The `WWW-Authenticate` header of a 401. */
      readonly challenge?: string;
    };

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return address === "::1" || /^127\.\d+\.\d+\.\d+$/.test(v4);
}

/**
 * Compares a presented token with the configured one in time that does not depend on where
 * they differ, nor on the presented token's length (both are hashed to 32 bytes first).
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

const CHALLENGE = 'Bearer realm="gatehouse-admin"';

/**
 * Who may call `/api/*`: with a configured `token`, whoever sends `Authorization: Bearer TOKEN`
 * (401 with a `WWW-Authenticate: Bearer` challenge otherwise); without one, loopback peers only
 * (403 otherwise; the listener then binds loopback anyway, config validation sees to it).
 */
export function checkAdminAccess(request: IncomingMessage, token: string | undefined): AccessVerdict {
  const { remoteAddress, remotePort } = request.socket;
  const peer =
    remoteAddress?.includes(":") === true
      ? `[${remoteAddress}]:${String(remotePort)}`
      : `${String(remoteAddress)}:${String(remotePort)}`;
  if (token === undefined) {
    if (isLoopback(remoteAddress)) return { allowed: true, caller: { peer, token: false } };
    return {
      allowed: false,
      caller: { peer, token: false },
      status: 403,
      error: "the admin API accepts loopback clients only unless admin.token is set",
    };
  }
  const header = request.headers.authorization;
  const presented = /^Bearer +(\S+) *$/i.exec(header ?? "")?.[1];
  if (presented === undefined) {
    return {
      allowed: false,
      caller: { peer, token: false },
      status: 401,
      error: "an Authorization: Bearer token is required",
      challenge: CHALLENGE,
    };
  }
  if (!tokensEqual(presented, token)) {
    return {
      allowed: false,
      caller: { peer, token: false },
      status: 401,
      error: "the bearer token is not valid",
      challenge: `${CHALLENGE}, error="invalid_token"`,
    };
  }
  return { allowed: true, caller: { peer, token: true } };
}
