/**
 * RFC 4515 assertion-value escaping: `\`, `*`, `(`, `)` and NUL become `\XX`. Other characters,
 * UTF-8 included, stay as they are: RFC 4515 allows them, and ldapts's filter parser decodes each
 * `\XX` as one character (not one byte), so escaping UTF-8 bytes would corrupt the value.
 */
export function escapeFilterValue(value: string): string {
  let out = "";
  for (const char of value) {
    if (char === "\\" || char === "*" || char === "(" || char === ")" || char === "\0") {
      out += `\\${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
    } else {
      out += char;
    }
  }
  return out;
}

/** RFC 4514 attribute-value escaping for a value placed in one RDN. */
export function escapeDnValue(value: string): string {
  let out = "";
  const chars = Array.from(value);
  chars.forEach((char, index) => {
    if (char === "\0") out += "\\00";
    else if (',+"\\<>;='.includes(char)) out += `\\${char}`;
    else if (char === "#" && index === 0) out += "\\#";
    else if (char === " " && (index === 0 || index === chars.length - 1)) out += "\\ ";
    else out += char;
  });
  return out;
}

/**
 * Replaces every `{name}` in `template` with `values[name]`, already escaped by the caller.
 * split/join, not String.replace: a value holding `$&` or `` $` `` is inserted literally.
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  let out = template;
  for (const [name, value] of Object.entries(values)) out = out.split(`{${name}}`).join(value);
  return out;
}

/** Characters Active Directory forbids in sAMAccountName / UPN prefixes. */
const NON_DN_FORBIDDEN = /["/\\[\]:;|=,+*?<>@]/u;

/**
 * A template such as `{username}@corp.example.com` or `CORP\{username}` is not a DN, so RFC 4514
 * escaping does not apply: names holding a character that could change the bind name's meaning
 * are refused instead.
 */
export function isSafeNonDnUsername(username: string): boolean {
  if (NON_DN_FORBIDDEN.test(username)) return false;
  for (let index = 0; index < username.length; index++) if (username.charCodeAt(index) < 0x20) return false;
  return true;
}

/** `uid={username},ou=people,...` is a DN template; `{username}@corp` and `CORP\{username}` are not. */
export function isDnTemplate(template: string): boolean {
  return /^\s*[A-Za-z][\w-]*\s*=/.test(template);
}

/** The attribute a filter or DN template compares with `{username}`: `(uid={username})` → uid. */
export function usernameAttribute(template: string): string | undefined {
  const match = /([A-Za-z][\w-]*)\s*=\s*\{username\}/.exec(template);
  return match?.[1];
}
