/** Directory group names → Gatehouse group names. Keys compare case-insensitively, as LDAP does. */
export function mapGroups(
  names: readonly string[],
  groupMap: Readonly<Record<string, string | readonly string[]>> | undefined,
  unmapped: "keep" | "drop",
): string[] {
  const table = new Map<string, readonly string[]>();
  for (const [key, value] of Object.entries(groupMap ?? {})) {
    table.set(key.toLowerCase(), typeof value === "string" ? [value] : value);
  }
  const out = new Set<string>();
  for (const name of names) {
    const mapped = table.get(name.toLowerCase());
    if (mapped !== undefined) for (const target of mapped) out.add(target);
    else if (unmapped === "keep") out.add(name);
  }
  return [...out];
}

/** True when `required` is unset or the user is in at least one of its (directory) groups. */
export function meetsRequiredGroups(names: readonly string[], required: readonly string[] | undefined): boolean {
  if (required === undefined) return true;
  const have = new Set(names.map((name) => name.toLowerCase()));
  return required.some((name) => have.has(name.toLowerCase()));
}
