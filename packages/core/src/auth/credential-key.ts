import { createHmac, randomBytes } from "node:crypto";

/**
 * Turns a username and password (and, for providers whose decision depends on the connection,
 * the client IP and the listener address) into an opaque key for the decision cache and the in-flight
 * table, so neither ever holds the plaintext. HMAC-SHA256 under a random key that lives only
 * in this process: the keys cannot be reversed or precomputed, and mean nothing elsewhere.
 */
export class CredentialKeyer {
  private readonly secret = randomBytes(32);

  keyOf(...fields: readonly string[]): string {
    const hmac = createHmac("sha256", this.secret);
    // Each field is length-prefixed so ("ab", "c") and ("a", "bc") cannot collide.
    for (const field of fields) {
      const bytes = Buffer.from(field, "utf8");
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      hmac.update(length).update(bytes);
    }
    return hmac.digest("base64url");
  }
}
