import type { IncomingMessage } from "node:http";
import { AdminRequestError } from "./operator-view.js";

/** The largest JSON body an admin POST route reads. */
export const MAX_ADMIN_BODY = 4096;

/** Reads a JSON body of at most MAX_ADMIN_BODY bytes; AdminRequestError 413 or 400 otherwise. */
export async function readJsonBody(request: IncomingMessage, example: string): Promise<unknown> {
  let text = "";
  for await (const chunk of request as AsyncIterable<Buffer>) {
    text += chunk.toString("utf8");
    if (text.length > MAX_ADMIN_BODY) throw new AdminRequestError(413, "body too large");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminRequestError(400, `expected a JSON body such as ${example}`);
  }
}
