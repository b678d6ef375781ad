import type { IncomingMessage } from "node:http";

/** The largest body POST /api/revoke reads. */
export const MAX_REVOKE_BODY = 4096;

/** What a POST /api/revoke answers: a status and a JSON body. */
export interface RevokeAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return address === "::1" || /^127\.\d+\.\d+\.\d+$/.test(v4);
}

/**
 * POST /api/revoke with `{"identity": "alice"}`: only from a loopback peer (it changes state;
 * the admin listener binds loopback by default, and this holds even when it does not), a JSON
 * body of at most 4 KiB. `revoke` ends the identity's tunnels on every instance it reaches.
 */
export async function answerRevoke(
  request: IncomingMessage,
  revoke: (identity: string) => Promise<void>,
): Promise<RevokeAnswer> {
  if (!isLoopback(request.socket.remoteAddress)) {
    return { status: 403, body: { error: "revocations are accepted from loopback addresses only" } };
  }
  let text = "";
  for await (const chunk of request as AsyncIterable<Buffer>) {
    text += chunk.toString("utf8");
    if (text.length > MAX_REVOKE_BODY) return { status: 413, body: { error: "body too large" } };
  }
  let identity: unknown;
  try {
    identity = (JSON.parse(text) as { identity?: unknown } | null)?.identity;
  } catch {
    return { status: 400, body: { error: 'expected a JSON body such as {"identity": "alice"}' } };
  }
  if (typeof identity !== "string" || identity === "" || identity.length > 255) {
    return { status: 400, body: { error: "identity must be a string of 1 to 255 characters" } };
  }
  try {
    await revoke(identity);
  } catch (error) {
    return {
      status: 503,
      body: { error: `revocation failed: ${error instanceof Error ? error.message : String(error)}` },
    };
  }
  return { status: 200, body: { revoked: identity } };
}
