/**
 * Characters a log line must never carry raw, because a terminal, an editor or a line-splitting
 * reader may act on them: C0 and C1 controls and DEL (a newline forges a line, ESC drives the
 * terminal, NEL and U+2028/U+2029 end a line for some readers), bidirectional overrides and
 * other invisible format characters (they reorder or hide text), the BOM, interlinear
 * annotation marks, and lone surrogates.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The same set without C0 controls, quote and backslash: what JSON serialization leaves raw. */
const UNSAFE_AFTER_JSON =
  /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const SHORT: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function uEscape(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** `text` with every unsafe character written as `\n`, `\r`, `\t` or `\uXXXX`; printable text is unchanged. */
export function escapeNonPrintable(text: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(text)) return text;
  return text.replace(UNSAFE, (char) => SHORT[char] ?? uEscape(char));
}

/**
 * One serialized JSON line with the unsafe characters JSON leaves raw (DEL, C1 controls,
 * U+2028, bidi overrides, ...) written as `\uXXXX` escapes. Such characters can only occur
 * inside JSON strings, where the escape means the same character: the line parses to the same
 * value, and no reader splits or reorders it.
 */
export function escapeJsonLine(line: string): string {
  UNSAFE_AFTER_JSON.lastIndex = 0;
  if (!UNSAFE_AFTER_JSON.test(line)) return line;
  return line.replace(UNSAFE_AFTER_JSON, uEscape);
}
