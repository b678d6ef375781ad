/** Headers the provider sets itself (or the HTTP layer owns): the config cannot override them. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "content-type",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "expect",
  "te",
  "trailer",
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

export function isHeaderValue(value: string): boolean {
  return !/[\r\n\0]/.test(value);
}

export class HeadersFileError extends Error {
  constructor(file: string, problems: readonly string[]) {
    super(`headers_file ${file}: ${problems.join("; ")}`);
    this.name = "HeadersFileError";
  }
}

/**
 * Parses `Name: value` lines (curl's `-H @file` format); blank lines and lines starting with
 * `#` are skipped. Errors give line numbers, never a value.
 */
export function parseHeadersFile(file: string, text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const problems: string[] = [];
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon).trim();
    const where = `line ${index + 1}`;
    if (!isHeaderName(name)) problems.push(`${where}: expected "Name: value"`);
    else if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push(`${where}: ${name} is set by the provider`);
    else if (!isHeaderValue(line)) problems.push(`${where}: header values cannot hold NUL`);
    else headers[name] = line.slice(colon + 1).trim();
  }
  if (problems.length > 0) throw new HeadersFileError(file, problems);
  return headers;
}
