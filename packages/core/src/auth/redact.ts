/** Removes every occurrence of a secret from a diagnostic text. */
export function redactSecret(text: string, secret: string): string {
  return secret.length === 0 ? text : text.split(secret).join("[REDACTED]");
}
