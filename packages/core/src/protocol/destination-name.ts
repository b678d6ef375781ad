import { parseNumericHost } from "../dns/numeric-host.js";
import type { NumericHost } from "../dns/numeric-host.js";

/** Why an ATYP 3 name was refused (reply 04, never resolved nor dialled). */
export type NameRefusal =
  /** Zero bytes (or only the root's dot). */
  | "empty_name"
  /** A byte other than a letter, digit, `-`, `_` or `.`: NUL, a space, a control, any non-ASCII byte. */
  | "bad_byte"
  /** Two dots in a row, or a leading dot. */
  | "empty_label"
  | "label_too_long"
  /** All-digit last label that is not an IPv4 address (`1.2.3.4.5`, `127.0.0.1.`): no real name ends so. */
  | "numeric_tld";

/** An ATYP 3 name after validation: an IP address in a resolver's numeric form, a host name, or refused. */
export type InterpretedName =
  | { readonly kind: "ipv4"; readonly host: string }
  | { readonly kind: "ipv6"; readonly host: string }
  /** Lower case, without the root's trailing dot. */
  | { readonly kind: "name"; readonly host: string }
  | { readonly kind: "refused"; readonly reason: NameRefusal };

const MAX_LABEL = 63;

/**
 * Validates a destination name as it came off the wire. A name that is an IP address in any
 * form the system resolver reads as one (see NumericHost) becomes that address; anything
 * else must be 1–255 bytes of letters, digits, `-`, `_` and `.` (IDNs arrive as punycode)
 * with no empty label and no label over 63 bytes; one trailing dot is removed and the name
 * is lower-cased, so every later comparison and the lookup see one form.
 */
export function interpretDestinationName(bytes: Uint8Array): InterpretedName {
  const length = bytes.length;
  if (length === 0) return { kind: "refused", reason: "empty_name" };
  let upper = false;
  let outside = false;
  for (let i = 0; i < length; i++) {
    const byte = bytes[i]!;
    if ((byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte === 46 || byte === 45 || byte === 95) {
      continue;
    }
    if (byte >= 65 && byte <= 90) upper = true;
    else outside = true;
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, length).toString("latin1");
  const first = bytes[0]!;
  // Numeric forms start with a digit (IPv4) or contain a colon (IPv6), which no valid name does.
  if ((first >= 48 && first <= 57) || outside) {
    const numeric = parseNumericHost(text);
    if (numeric !== undefined) return numericAddress(numeric);
  }
  if (outside) return { kind: "refused", reason: "bad_byte" };
  const end = bytes[length - 1] === 46 ? length - 1 : length;
  if (end === 0) return { kind: "refused", reason: "empty_name" };
  let labelStart = 0;
  let digitsOnly = true;
  for (let i = 0; i <= end; i++) {
    const byte = i === end ? 46 : bytes[i]!;
    if (byte === 46) {
      const labelLength = i - labelStart;
      if (labelLength === 0) return { kind: "refused", reason: "empty_label" };
      if (labelLength > MAX_LABEL) return { kind: "refused", reason: "label_too_long" };
      labelStart = i + 1;
      if (i !== end) digitsOnly = true;
    } else if (byte < 48 || byte > 57) {
      digitsOnly = false;
    }
  }
  if (digitsOnly) return { kind: "refused", reason: "numeric_tld" };
  const name = end === length ? text : text.slice(0, end);
  return { kind: "name", host: upper ? name.toLowerCase() : name };
}

function numericAddress(numeric: NumericHost): InterpretedName {
  if (numeric.family === 4) return { kind: "ipv4", host: formatIPv4Word(numeric.w3) };
  const groups: string[] = [];
  for (const word of [numeric.w0, numeric.w1, numeric.w2, numeric.w3]) {
    groups.push((word >>> 16).toString(16), (word & 0xffff).toString(16));
  }
  const host = compressIPv6(groups);
  return { kind: "ipv6", host: numeric.zone === undefined ? host : `${host}%${numeric.zone}` };
}

export function formatIPv4Word(word: number): string {
  return `${String(word >>> 24)}.${String((word >>> 16) & 0xff)}.${String((word >>> 8) & 0xff)}.${String(word & 0xff)}`;
}

/** RFC 5952 form of eight hex groups: the longest run (≥2) of zero groups becomes `::`. */
export function compressIPv6(groups: readonly string[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) return groups.join(":");
  const head = groups.slice(0, bestStart).join(":");
  const tail = groups.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/** A name for a log line: printable ASCII as is, every other byte (and `\`) as `\xNN`. */
export function escapeName(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    out +=
      byte > 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}
