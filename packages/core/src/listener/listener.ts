import { createServer as createNetServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { createSecureContext, createServer as createTlsServer } from "node:tls";
import type { Server as TlsServer } from "node:tls";
import { Session } from "../session/session.js";
import type { ListenerContext } from "../session/context.js";
import { loadTlsMaterial, sameTlsMaterial } from "./tls.js";
import type { TlsMaterial } from "./tls.js";

/** Accept and fd-exhaustion errors are logged at most this often; they never stop the listener. */
const ERROR_LOG_INTERVAL_MS = 5000;

/** The sessions of one listener; tells the listener when the last one is gone. */
class SessionSet<T> extends Set<T> {
  constructor(private readonly onEmpty: () => void) {
    super();
  }

  override delete(value: T): boolean {
    const deleted = super.delete(value);
    if (deleted && this.size === 0) this.onEmpty();
    return deleted;
  }
}

export class Listener {
  private server: Server | undefined;
  private lastErrorLog = 0;
  /** The certificate and key served now (TLS listeners). */
  private tlsMaterial: TlsMaterial | undefined;
  private whenEmpty: (() => void) | undefined;

  private readonly ctx: ListenerContext;

  constructor(shared: Omit<ListenerContext, "sessions" | "onResourceExhausted">) {
    this.ctx = {
      ...shared,
      sessions: new SessionSet(() => this.whenEmpty?.()),
      onResourceExhausted: (code) => this.onResourceExhausted(code),
    };
  }

  /** Resolves once this listener has stopped accepting and its last session has ended. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.server !== undefined || this.ctx.sessions.size > 0) return;
        this.whenEmpty = undefined;
        resolve();
      };
      this.whenEmpty = check;
      check();
    });
  }

  /**
   * Re-reads the configured certificate and key files (rotation at the same path) and checks
   * that they make a usable pair. Returns what serves them to new connections, or undefined
   * when nothing changed (or the listener serves a generated certificate). Throws when the
   * files cannot be read or do not fit: the listener then keeps what it serves.
   */
  async reloadTls(): Promise<(() => void) | undefined> {
    const tls = this.ctx.options.tls;
    if (tls?.certificateFile === undefined || this.tlsMaterial === undefined) return undefined;
    const material = await loadTlsMaterial(tls, this.name, this.ctx.logger);
    if (sameTlsMaterial(material, this.tlsMaterial)) return undefined;
    try {
      createSecureContext(material);
    } catch (error) {
      throw new Error(
        `listener ${this.name}: tls_certificate and tls_private_key cannot be used: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return () => {
      const server = this.server as TlsServer | undefined;
      // Established tunnels keep their session; only new handshakes see the new certificate.
      server?.setSecureContext(material);
      this.tlsMaterial = material;
      this.ctx.logger.info({ event: "tls_reloaded" }, "serving the certificate re-read from disk");
    };
  }

  /** Applies a reloaded policy to the sessions that make requests from now on. */
  setPolicy(policy: ListenerContext["policy"]["current"]): void {
    this.ctx.policy.current = policy;
  }

  get name(): string {
    return this.ctx.options.name;
  }

  /** As configured (port 0 = any). */
  get host(): string {
    return this.ctx.options.host;
  }

  get port(): number {
    return this.ctx.options.port;
  }

  address(): AddressInfo {
    const address = this.server?.address();
    if (address === null || address === undefined || typeof address === "string") {
      throw new Error(`listener ${this.name} is not listening`);
    }
    return address;
  }

  async start(): Promise<void> {
    const { options, logger } = this.ctx;
    const socketOptions = {
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: options.keepAliveMs > 0,
      keepAliveInitialDelay: options.keepAliveMs,
    };
    let server: Server;
    if (options.tls !== undefined) {
      const material = await loadTlsMaterial(options.tls, options.name, logger);
      this.tlsMaterial = material;
      server = createTlsServer({ ...socketOptions, ...material, handshakeTimeout: options.stepTimeoutMs }, (socket) =>
        this.accept(socket),
      );
      // With allowHalfOpen, Node leaves a socket whose TLS handshake failed or timed out open.
      server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: Socket) => {
        socket.destroy();
        logger.debug({ event: "tls_error", code: error.code }, "TLS handshake failed");
      });
    } else {
      server = createNetServer(socketOptions, (socket) => this.accept(socket));
    }
    if (options.maxConnections > 0) server.maxConnections = options.maxConnections;
    server.on("drop", () => {
      this.ctx.stats.connectionsRefused++;
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: options.host, port: options.port, backlog: 1024 }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error: NodeJS.ErrnoException) => this.onAcceptError(error));
    this.server = server;
    const address = this.address();
    logger.info(
      { event: "listening", address: address.address, port: address.port, tls: options.tls !== undefined },
      "listening",
    );
  }

  /** Sessions still open on this listener (accepting or not). */
  get sessionCount(): number {
    return this.ctx.sessions.size;
  }

  /** Stops accepting; established sessions carry on until they end or `destroySessions`. */
  stopAccepting(): void {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.close();
    this.whenEmpty?.();
  }

  destroySessions(reason: string): void {
    for (const session of [...this.ctx.sessions]) session.destroy(reason);
  }

  /** Stops accepting and ends every session of this listener. */
  close(): void {
    this.stopAccepting();
    this.destroySessions("server_shutdown");
  }

  private accept(socket: Socket): void {
    new Session(socket, this.ctx);
  }

  private onAcceptError(error: NodeJS.ErrnoException): void {
    this.ctx.stats.acceptErrors++;
    if (!this.errorLogDue()) return;
    this.ctx.logger.error(
      { event: "accept_error", code: error.code, accept_errors_total: this.ctx.stats.acceptErrors },
      "accept failed; the listener keeps serving",
    );
  }

  private onResourceExhausted(code: string): void {
    this.ctx.stats.resourceErrors++;
    if (!this.errorLogDue()) return;
    this.ctx.logger.error(
      { event: "resource_exhausted", code, resource_errors_total: this.ctx.stats.resourceErrors },
      "out of file descriptors: raise the fd limit (ulimit -n) or lower max_connections",
    );
  }

  private errorLogDue(): boolean {
    const now = Date.now();
    if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return false;
    this.lastErrorLog = now;
    return true;
  }
}
