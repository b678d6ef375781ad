/** The first RDN of a DN as `{attribute, value}` (RFC 4514 escapes undone), or undefined. */
export function firstRdn(dn: string): { attribute: string; value: string } | undefined {
  const equals = dn.indexOf("=");
  if (equals <= 0) return undefined;
  const attribute = dn.slice(0, equals).trim();
  const bytes: number[] = [];
  const push = (text: string): void => {
    bytes.push(...Buffer.from(text, "utf8"));
  };
  for (let index = equals + 1; index < dn.length; index++) {
    const char = dn[index]!;
    if (char === "," || char === "+") break;
    if (char !== "\\") {
      push(char);
      continue;
    }
    const hex = dn.slice(index + 1, index + 3);
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else if (index + 1 < dn.length) {
      push(dn[index + 1]!);
      index += 1;
    }
  }
  return { attribute, value: Buffer.from(bytes).toString("utf8").trim() };
}

export function sameDn(a: string, b: string): boolean {
  return normalizeDn(a) === normalizeDn(b);
}

/** Good enough to detect cycles: case and spaces around separators do not matter. */
export function normalizeDn(dn: string): string {
  return dn.toLowerCase().replace(/\s*([,=+])\s*/g, "$1");
}
