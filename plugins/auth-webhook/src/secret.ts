import { createHmac, randomBytes } from "node:crypto";

const PREFIX = "whsec_";
/** Standard Webhooks: signing keys are 24..64 random bytes. */
const KEY_BYTES = { min: 24, max: 64 } as const;

/**
 * Decodes a Standard Webhooks secret, `whsec_` + base64 of the key bytes, to the HMAC key.
 * Messages never quote the value.
 */
export function parseWebhookSecret(secret: string): Buffer {
  const text = secret.trim();
  if (!text.startsWith(PREFIX)) throw new Error('must have the form "whsec_<base64>" (Standard Webhooks)');
  const encoded = text.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.replace(/=+$/, "").length % 4 === 1) {
    throw new Error('the part after "whsec_" must be base64');
  }
  const key = Buffer.from(encoded, "base64");
  if (key.length < KEY_BYTES.min || key.length > KEY_BYTES.max) {
    throw new Error(`the key must be ${KEY_BYTES.min}..${KEY_BYTES.max} bytes, not ${key.length}`);
  }
  return key;
}

/** `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` over the exact body bytes sent. */
export function signWebhook(key: Buffer, id: string, timestamp: number, body: Uint8Array): string {
  const mac = createHmac("sha256", key)
    .update(`${id}.${String(timestamp)}.`)
    .update(body)
    .digest("base64");
  return `v1,${mac}`;
}

/** A fresh message id for each request (receivers may use it to refuse replays). */
export function newWebhookId(): string {
  return `msg_${randomBytes(18).toString("base64url")}`;
}
