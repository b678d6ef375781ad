import { isIP } from "node:net";
import * as net from "node:net";
import * as tls from "node:tls";
import { Client } from "ldapts";
import type { Entry, SearchOptions } from "ldapts";
import { abortReason } from "@gatehouse-proxy/core";

export interface TransportSettings {
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly startTls: boolean;
  /** ca, rejectUnauthorized, servername: never mutated (ldapts writes `socket` into what it is given). */
  readonly tls: Readonly<tls.ConnectionOptions>;
}

/** An entry with lower-cased attribute names and every value as a string list. */
export interface DirectoryEntry {
  readonly dn: string;
  readonly attributes: ReadonlyMap<string, readonly string[]>;
}

interface GuardOptions {
  readonly signal?: AbortSignal | undefined;
  readonly limitMs: number;
  /** A per-login connection dies with its caller; a shared service connection is only left. */
  readonly destroyOnAbort: boolean;
}

/**
 * One ldapts client on one server URL. Every operation is bounded: ldapts's connectTimeout and
 * timeout cover the TCP connect and each request, and our own limit also covers the StartTLS
 * handshake, which ldapts does not time. On a limit or abort the socket is destroyed.
 */
export class LdapConnection {
  private readonly client: Client;
  private readonly host: string;
  private readonly sockets = new Set<net.Socket>();
  private boundAs: string | undefined;

  private constructor(
    readonly url: string,
    private readonly settings: TransportSettings,
  ) {
    const parsed = new URL(url);
    this.host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
    const secure = parsed.protocol.toLowerCase() === "ldaps:";
    this.client = new Client({
      url,
      connectTimeout: settings.connectTimeoutMs,
      timeout: settings.timeoutMs,
      // Passing tlsOptions makes ldapts speak TLS from the first byte, so only for ldaps://.
      ...(secure ? { tlsOptions: this.tlsOptionsCopy() } : {}),
      createConnection: ((...args: Parameters<typeof net.connect>) =>
        this.track(net.connect(...args))) as typeof net.connect,
      createSecureConnection: ((...args: Parameters<typeof tls.connect>) =>
        this.track(tls.connect(...args))) as typeof tls.connect,
    });
  }

  /** Creates the client; with start_tls, connects and upgrades now (a failure never falls back to plaintext). */
  static async open(url: string, settings: TransportSettings, signal?: AbortSignal): Promise<LdapConnection> {
    const connection = new LdapConnection(url, settings);
    if (settings.startTls) {
      try {
        await connection.guard(connection.client.startTLS(connection.tlsOptionsCopy()), {
          signal,
          limitMs: settings.connectTimeoutMs + settings.timeoutMs,
          destroyOnAbort: true,
        });
      } catch (error) {
        connection.destroy();
        throw error;
      }
    }
    return connection;
  }

  /** The socket is open (whatever it is bound as). */
  get connected(): boolean {
    return this.client.isConnected;
  }

  get alive(): boolean {
    return this.client.isConnected && (this.boundAs === undefined || this.client.isBound);
  }

  async bind(dn: string, password: string, signal?: AbortSignal, destroyOnAbort = true): Promise<void> {
    await this.guard(this.client.bind(dn, password), { signal, limitMs: this.operationLimit(), destroyOnAbort });
    this.boundAs = dn;
  }

  async search(
    base: string,
    options: SearchOptions,
    signal?: AbortSignal,
    destroyOnAbort = false,
  ): Promise<DirectoryEntry[]> {
    const result = await this.guard(this.client.search(base, { derefAliases: "never", ...options }), {
      signal,
      limitMs: this.operationLimit(),
      destroyOnAbort,
    });
    return result.searchEntries.map(toDirectoryEntry);
  }

  /** Polite unbind, bounded; the socket is destroyed whatever happens. */
  async close(): Promise<void> {
    try {
      if (this.client.isConnected) await this.guard(this.client.unbind(), { limitMs: 1000, destroyOnAbort: true });
    } catch {
      // Closing a broken connection is not news.
    } finally {
      this.destroy();
    }
  }

  destroy(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private operationLimit(): number {
    // Connect (lazy in ldapts) plus the request, with slack so ldapts's own timers fire first.
    return this.settings.connectTimeoutMs + this.settings.timeoutMs + 250;
  }

  private tlsOptionsCopy(): tls.ConnectionOptions {
    const options: tls.ConnectionOptions = { minVersion: "TLSv1.2", ...this.settings.tls, host: this.host };
    if (options.servername === undefined && isIP(this.host) === 0) options.servername = this.host;
    return options;
  }

  private track<S extends net.Socket>(socket: S): S {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    return socket;
  }

  private guard<T>(operation: Promise<T>, options: GuardOptions): Promise<T> {
    const { signal, limitMs, destroyOnAbort } = options;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        return true;
      };
      const timer = setTimeout(() => {
        if (!finish()) return;
        this.destroy();
        reject(new Error(`LDAP operation timed out after ${String(limitMs)} ms`));
      }, limitMs);
      const onAbort = (): void => {
        if (!finish()) return;
        if (destroyOnAbort) this.destroy();
        reject(signal === undefined ? new Error("aborted") : abortReason(signal));
      };
      if (signal?.aborted === true) {
        onAbort();
      } else {
        signal?.addEventListener("abort", onAbort, { once: true });
      }
      operation.then(
        (value) => {
          if (finish()) resolve(value);
        },
        (error: unknown) => {
          if (finish()) reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}

function toDirectoryEntry(entry: Entry): DirectoryEntry {
  const attributes = new Map<string, string[]>();
  for (const [name, value] of Object.entries(entry)) {
    if (name === "dn") continue;
    const values = Array.isArray(value) ? value : [value];
    attributes.set(
      name.toLowerCase(),
      values.map((item) => (typeof item === "string" ? item : item.toString("utf8"))),
    );
  }
  return { dn: entry.dn, attributes };
}

export function attributeValues(entry: DirectoryEntry, name: string): readonly string[] {
  return entry.attributes.get(name.toLowerCase()) ?? [];
}
