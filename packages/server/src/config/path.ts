/** Formats a path such as ["listeners", 0, "listen"] as `listeners[0].listen`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${String(part)}]`;
    else text += text === "" ? String(part) : `.${String(part)}`;
  }
  return text === "" ? "(root)" : text;
}

export function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  if (path.length === 0) return prefix;
  const rest = formatPath(path);
  return rest.startsWith("[") ? `${prefix}${rest}` : `${prefix}.${rest}`;
}
