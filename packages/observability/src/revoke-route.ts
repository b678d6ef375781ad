import type { IncomingMessage } from "node:http";
import { readJsonBody } from "./body.js";
import { AdminRequestError } from "./operator-view.js";

export { isLoopback } from "./admin-access.js";

/**
 * POST /api/revoke with `{"identity": "alice"}` (a JSON body of at most 4 KiB; who may call it is
 * checked before, as for every /api route). `revoke` ends the identity's tunnels on every
 * instance it reaches.
 */
export async function answerRevoke(
  request: IncomingMessage,
  revoke: (identity: string) => Promise<void>,
): Promise<{ revoked: string }> {
  const body = await readJsonBody(request, '{"identity": "alice"}');
  const identity = (body as { identity?: unknown } | null)?.identity;
  if (typeof identity !== "string" || identity === "" || identity.length > 255) {
    throw new AdminRequestError(400, "identity must be a string of 1 to 255 characters");
  }
  try {
    await revoke(identity);
  } catch (error) {
    throw new AdminRequestError(503, `revocation failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { revoked: identity };
}
