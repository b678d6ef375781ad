/** How long /readyz waits for `ready()` by default. */
export const DEFAULT_READY_TIMEOUT_MS = 2000;

const MAX_MESSAGE_LENGTH = 300;

export type ReadyResult = { readonly ready: true } | { readonly ready: false; readonly message: string };

/**
 * A readiness probe: runs `ready()` with a deadline; concurrent probes share one call, so
 * a burst of /readyz requests asks the providers once.
 */
export function createReadinessCheck(ready: () => Promise<void>, timeoutMs: number): () => Promise<ReadyResult> {
  let inFlight: Promise<ReadyResult> | undefined;
  return () => {
    inFlight ??= check(ready, timeoutMs).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

async function check(ready: () => Promise<void>, timeoutMs: number): Promise<ReadyResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`not ready within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(ready), deadline]);
    return { ready: true };
  } catch (error) {
    return { ready: false, message: describeFailure(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** `scheme://user:pass@`: the userinfo of a URL. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi;
/**
 * `password=...`, `token: ...`, `client_secret=...`: a secret's name as a word of its own (not
 * inside a file name such as `users.htpasswd` or `/etc/passwd`), then `=` or `:`, then its value.
 */
const SECRET_PAIR = /((?<![\w./\\-])(?:[a-z0-9]+[_-])*(?:pass(?:word|wd)?|pwd|secret|token)\s*[=:]\s*)\S+/gi;

/**
 * One line for the probe's body: the error's message with secrets masked — URL credentials
 * and `password=...`-style pairs — and cut to a bounded length. Everything else, file paths
 * included, stays: an operator needs them to see what is wrong.
 */
export function describeFailure(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const masked = text
    .replace(/\s+/g, " ")
    .replace(URL_CREDENTIALS, "$1[REDACTED]@")
    .replace(SECRET_PAIR, "$1[REDACTED]")
    .trim();
  const message = masked === "" ? "not ready" : masked;
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}...` : message;
}
