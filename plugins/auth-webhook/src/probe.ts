import { connect as connectTcp, isIP } from "node:net";
import type { Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { WebhookError } from "./webhook-error.js";

/** Certificate checks for an https:// probe: the same trust the request agent uses. */
export interface ProbeTls {
  readonly ca?: Buffer;
  readonly servername?: string;
}

/**
 * Opens one connection to the receiver — TCP, plus the TLS handshake with certificate checks for
 * https:// — and closes it. No HTTP request is sent: a request would need credentials or be a
 * malformed login the receiver logs. Rejects with a WebhookError (or the signal's reason).
 */
export function probeConnection(
  url: URL,
  tls: ProbeTls | undefined,
  endpoint: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  signal.throwIfAborted();
  const https = url.protocol === "https:";
  // URL keeps the brackets of an IPv6 literal; sockets want the bare address.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (https ? 443 : 80) : Number(url.port);
  return new Promise((resolve, reject) => {
    const socket: Socket = https
      ? connectTls({
          host,
          port,
          rejectUnauthorized: true,
          ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
          // SNI cannot carry an IP address; the certificate is then checked against the IP.
          ...(tls?.servername !== undefined
            ? { servername: tls.servername }
            : isIP(host) === 0
              ? { servername: host }
              : {}),
        })
      : connectTcp({ host, port });
    const timer = setTimeout(
      () => settle(new WebhookError("timeout", `${endpoint}: no connection within ${timeoutMs} ms (timeout)`)),
      timeoutMs,
    );
    const onAbort = (): void =>
      settle(signal.reason instanceof Error ? signal.reason : new WebhookError("network", `${endpoint}: aborted`));
    signal.addEventListener("abort", onAbort, { once: true });
    let settled = false;
    /** `failure` absent: connected. */
    function settle(...failure: [] | [Error]): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      if (failure.length === 0) resolve();
      else reject(failure[0]);
    }
    socket.once(https ? "secureConnect" : "connect", () => settle());
    socket.on("error", (error: NodeJS.ErrnoException) =>
      settle(
        new WebhookError("network", `${endpoint}: cannot connect: ${error.code ?? error.message}`, { cause: error }),
      ),
    );
  });
}
