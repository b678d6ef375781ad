/** Standard base64 without padding, as PHC strings write it; padding is accepted on input. */
export function encodeB64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "");
}

/** Decodes strict base64 (no stray characters, canonical trailing bits); undefined otherwise. */
export function decodeB64(text: string): Buffer | undefined {
  const unpadded = text.replace(/={1,2}$/, "");
  if (!/^[A-Za-z0-9+/]+$/.test(unpadded) || unpadded.length % 4 === 1) return undefined;
  const bytes = Buffer.from(unpadded, "base64");
  return encodeB64(bytes) === unpadded ? bytes : undefined;
}
