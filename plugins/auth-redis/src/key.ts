/**
 * Usernames become Redis keys as `key_prefix` + the percent-encoding of their UTF-8 bytes:
 * bytes in [A-Za-z0-9_.-] stay as they are, every other byte becomes `%XX` (upper-case hex).
 * The encoding is injective (no two usernames share a key), the result never holds a glob
 * character (`*?[]\`), a separator (`:`), white space or a control byte, and plain names stay
 * readable (`gatehouse:user:alice`). `gatehouse users` uses the same functions.
 */
export function encodeUsername(username: string): string {
  let out = "";
  for (const byte of Buffer.from(username, "utf8")) {
    out += isSafe(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The username an encoded key part stands for, or undefined when it is not our canonical encoding. */
export function decodeUsername(encoded: string): string | undefined {
  const bytes: number[] = [];
  for (let index = 0; index < encoded.length; index++) {
    const char = encoded.charCodeAt(index);
    if (char === 0x25) {
      const hex = encoded.slice(index + 1, index + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else if (isSafe(char)) {
      bytes.push(char);
    } else {
      return undefined;
    }
  }
  const username = Buffer.from(bytes).toString("utf8");
  return encodeUsername(username) === encoded ? username : undefined;
}

export function userKey(prefix: string, username: string): string {
  return prefix + encodeUsername(username);
}

/** The SCAN MATCH pattern of every user key under `prefix` (the prefix's glob characters escaped). */
export function userKeyPattern(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, (char) => `\\${char}`)}*`;
}

function isSafe(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    byte === 0x5f ||
    byte === 0x2e ||
    byte === 0x2d
  );
}
