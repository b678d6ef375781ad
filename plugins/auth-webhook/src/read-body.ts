import { WebhookError } from "./webhook-error.js";

/**
 * Reads a response body up to `maxBytes`. The limit is checked as chunks arrive, so an
 * oversized body fails as soon as it passes the limit instead of being buffered; the caller
 * then aborts the request, which closes the connection.
 */
export async function readCappedBody(
  body: AsyncIterable<unknown> | null,
  maxBytes: number,
  declaredLength: string | null,
): Promise<Buffer> {
  if (declaredLength !== null && Number(declaredLength) > maxBytes) throw tooLarge(maxBytes);
  if (body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += bytes.length;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(maxBytes: number): WebhookError {
  return new WebhookError("response_too_large", `response body is larger than ${maxBytes} bytes (max_response_bytes)`);
}
