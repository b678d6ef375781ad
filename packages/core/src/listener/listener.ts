import { createServer as createNetServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { createSecureContext, createServer as createTlsServer } from "node:tls";
import type { SecureContext, Server as TlsServer } from "node:tls";
import { unmapIPv4 } from "../protocol/serialize.js";
import { Session } from "../session/session.js";
import type { ListenerContext } from "../session/context.js";
import { RateLimitedCount, UnauthenticatedSessions } from "./admission.js";
import type { Admittable } from "./admission.js";
import { ConnectionLimit } from "./connection-limit.js";
import { loadTlsMaterial, sameTlsMaterial } from "./tls.js";
import type { UdpAssociationInfo } from "../udp/association.js";
import { UdpRelayPorts } from "../udp/relay-ports.js";
import type { TlsMaterial } from "./tls.js";

/** Accept and fd-exhaustion errors are logged at most this often; they never stop the listener. */
const ERROR_LOG_INTERVAL_MS = 5000;
/** Connections closed by `max_unauthenticated_per_ip` are logged at most this often, as a count. */
const PER_IP_LOG_INTERVAL_MS = 10_000;

/** What every listener of a server shares: the fd-derived connection budget and its sessions. */
export interface SharedAdmission {
  /** Applies to listeners without their own `max_connections`; counts every listener's connections. */
  readonly budget: ConnectionLimit;
  /** Every listener's unauthenticated sessions and TLS handshakes, oldest first (the budget's eviction candidates). */
  readonly unauthenticated: UnauthenticatedSessions;
  /** TLS connections of every listener still in their handshake (not sessions yet, but holding a descriptor). */
  readonly handshaking: { count: number };
}

/** A TLS connection still in its handshake: counted by the limits, and the first to make room. */
class TlsHandshake implements Admittable {
  readonly evictable = true;

  constructor(
    /** The client's `address:port`, as the TLS socket of this connection will report it. */
    readonly key: string,
    readonly clientIp: string,
    private readonly socket: Socket,
    private readonly onEvict: (handshake: TlsHandshake) => void,
  ) {}

  evict(): void {
    this.onEvict(this);
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

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
  /** A TLS listener behind a balancer: the sessions do the handshake after the PROXY header. */
  private readonly tlsAfterProxyHeader: { current: SecureContext } | undefined;
  private whenEmpty: (() => void) | undefined;
  /** This listener's sessions that have not finished authenticating, by client IP. */
  private readonly unauthenticated = new UnauthenticatedSessions();
  /** The listener's own `max_connections`, when configured (it then replaces the shared budget). */
  private readonly ownLimit: ConnectionLimit | undefined;
  private readonly perIpNotices = new RateLimitedCount(PER_IP_LOG_INTERVAL_MS);
  private readonly perIpCounts = { refused: 0, evicted: 0 };
  private perIpFlushTimer: NodeJS.Timeout | undefined;
  /** TLS connections in their handshake, by the client's `address:port`. */
  private readonly handshaking = new Map<string, TlsHandshake>();

  private readonly ctx: ListenerContext;

  constructor(
    shared: Omit<
      ListenerContext,
      "sessions" | "onResourceExhausted" | "admission" | "udpPorts" | "onUdpPortsExhausted" | "tlsAfterProxyHeader"
    >,
    private readonly admission: SharedAdmission,
  ) {
    this.tlsAfterProxyHeader =
      shared.options.tls !== undefined && shared.options.proxyProtocol !== undefined
        ? { current: createSecureContext() }
        : undefined;
    this.ctx = {
      ...shared,
      tlsAfterProxyHeader: this.tlsAfterProxyHeader,
      sessions: new SessionSet(() => this.whenEmpty?.()),
      onResourceExhausted: (code) => this.onResourceExhausted(code),
      udpPorts: shared.options.udp === undefined ? undefined : new UdpRelayPorts(shared.options.udp),
      onUdpPortsExhausted: (range) => this.onUdpPortsExhausted(range),
      admission: {
        settled: (session) => this.settled(session),
        closed: (session) => this.closed(session),
        readmit: (session) => this.readmit(session),
      },
    };
    const { maxConnections } = shared.options;
    if (maxConnections > 0) {
      this.ownLimit = new ConnectionLimit({
        limit: maxConnections,
        reason: "max_connections",
        open: () => this.ctx.sessions.size + this.handshaking.size,
        unauthenticated: this.unauthenticated,
        stats: shared.stats,
        logger: shared.logger,
      });
    }
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
      // Established tunnels keep their session; only new handshakes see the new certificate.
      if (this.tlsAfterProxyHeader !== undefined) this.tlsAfterProxyHeader.current = createSecureContext(material);
      else (this.server as TlsServer | undefined)?.setSecureContext(material);
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
    if (this.tlsAfterProxyHeader !== undefined) {
      // The PROXY header comes before the TLS handshake: a plain server, TLS in the session.
      const material = await loadTlsMaterial(options.tls!, options.name, logger);
      this.tlsMaterial = material;
      this.tlsAfterProxyHeader.current = createSecureContext(material);
      server = createNetServer(socketOptions, (socket) => this.accept(socket));
    } else if (options.tls !== undefined) {
      const material = await loadTlsMaterial(options.tls, options.name, logger);
      this.tlsMaterial = material;
      server = createTlsServer({ ...socketOptions, ...material, handshakeTimeout: options.stepTimeoutMs }, (socket) =>
        this.accept(socket),
      );
      // A connection counts against the limits from its TCP accept, not from the end of its handshake.
      server.on("connection", (socket: Socket) => this.acceptTls(socket));
      // With allowHalfOpen, Node leaves a socket whose TLS handshake failed or timed out open.
      server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: Socket) => {
        socket.destroy();
        logger.debug({ event: "tls_error", code: error.code }, "TLS handshake failed");
      });
    } else {
      server = createNetServer(socketOptions, (socket) => this.accept(socket));
    }
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
    for (const handshake of [...this.handshaking.values()]) handshake.destroy();
    for (const session of [...this.ctx.sessions]) session.destroy(reason);
  }

  /** This listener's live UDP associations. */
  udpAssociations(): UdpAssociationInfo[] {
    const found: UdpAssociationInfo[] = [];
    for (const session of this.ctx.sessions) {
      const info = session.udpAssociation();
      if (info !== undefined) found.push(info);
    }
    return found;
  }

  /** Ends the sessions that authenticated as `identity`; returns how many. */
  destroySessionsOf(identity: string, reason: string): number {
    const matching = [...this.ctx.sessions].filter((session) => session.authenticatedAs(identity));
    for (const session of matching) session.destroy(reason);
    return matching.length;
  }

  /** Stops accepting and ends every session of this listener. */
  close(): void {
    this.stopAccepting();
    this.destroySessions("server_shutdown");
  }

  private accept(socket: Socket): void {
    // A TLS connection was admitted at its TCP accept; its handshake now becomes a session.
    const handshake = this.handshaking.get(connectionKey(socket));
    if (handshake !== undefined) this.forgetHandshake(handshake);
    else if (!this.admit(clientIpOf(socket))) {
      socket.destroy();
      return;
    }
    const session = new Session(socket, this.ctx);
    this.unauthenticated.add(session);
    this.admission.unauthenticated.add(session);
    session.start();
  }

  private acceptTls(socket: Socket): void {
    if (socket.remoteAddress === undefined) {
      socket.destroy(); // already gone
      return;
    }
    const ip = clientIpOf(socket);
    if (!this.admit(ip)) {
      socket.destroy();
      return;
    }
    const handshake = new TlsHandshake(connectionKey(socket), ip, socket, (evicted) => this.forgetHandshake(evicted));
    this.handshaking.set(handshake.key, handshake);
    this.admission.handshaking.count++;
    this.unauthenticated.add(handshake);
    this.admission.unauthenticated.add(handshake);
    socket.once("close", () => {
      // Not when it became a session or was evicted: those are accounted for already.
      if (!this.forgetHandshake(handshake)) return;
      this.ownLimit?.closed();
      this.admission.budget.closed();
    });
  }

  /** The handshake ended (became a session, closed, or was evicted): it no longer counts. */
  private forgetHandshake(handshake: TlsHandshake): boolean {
    if (this.handshaking.get(handshake.key) !== handshake) return false;
    this.handshaking.delete(handshake.key);
    this.admission.handshaking.count--;
    this.settled(handshake);
    return true;
  }

  /** Makes room for a connection from `ip` (closing older silent ones if need be); false = refuse it. */
  private admit(ip: string): boolean {
    const limit = this.ownLimit ?? this.admission.budget;
    if (!limit.admit(this.name)) return false;
    // Behind a balancer the socket's address is the balancer's: the per-IP limit waits for the header.
    if (this.ctx.options.proxyProtocol !== undefined) return true;
    return this.admitPerIp(ip);
  }

  /** A session whose client address changed (PROXY header): counted again under the new one. */
  private readmit(session: Admittable): boolean {
    if (!this.admitPerIp(session.clientIp)) return false;
    this.unauthenticated.add(session);
    this.admission.unauthenticated.add(session);
    return true;
  }

  /** `max_unauthenticated_per_ip`: room for one more from `ip`, evicting its oldest silent one if need be. */
  private admitPerIp(ip: string): boolean {
    const perIp = this.ctx.options.maxUnauthenticatedPerIp;
    if (perIp === 0 || this.unauthenticated.count(ip) < perIp) return true;
    const victim = this.unauthenticated.oldestEvictable(ip);
    victim?.evict("unauthenticated_per_ip");
    this.ctx.stats.countShed(this.name, victim === undefined ? "refused" : "evicted", "unauthenticated_per_ip");
    this.notePerIpShed(ip, victim === undefined ? "refused" : "evicted");
    return victim !== undefined;
  }

  /** `max_unauthenticated_per_ip` shed a connection: logged at most once per interval, as counts. */
  private notePerIpShed(ip: string, kind: "refused" | "evicted"): void {
    this.perIpCounts[kind]++;
    this.writePerIpNotice(this.perIpNotices.note(ip, Date.now()));
  }

  private writePerIpNotice(line: { count: number; addresses: string[] } | undefined): void {
    if (line !== undefined) {
      this.ctx.logger.warn(
        {
          event: "unauthenticated_limit",
          limit: this.ctx.options.maxUnauthenticatedPerIp,
          shed: line.count,
          refused: this.perIpCounts.refused,
          evicted: this.perIpCounts.evicted,
          addresses: line.addresses,
        },
        "max_unauthenticated_per_ip reached: the oldest silent unauthenticated connections from these addresses were closed to make room (refused when none was waiting on its client)",
      );
      this.perIpCounts.refused = 0;
      this.perIpCounts.evicted = 0;
    }
    const dueAt = this.perIpNotices.nextDueAt();
    if (dueAt === undefined || this.perIpFlushTimer !== undefined) return;
    this.perIpFlushTimer = setTimeout(
      () => {
        this.perIpFlushTimer = undefined;
        this.writePerIpNotice(this.perIpNotices.flush(Date.now()));
      },
      Math.max(0, dueAt - Date.now()),
    );
    this.perIpFlushTimer.unref();
  }

  /** The session authenticated (or its no-auth tunnel is up): it no longer counts as unauthenticated. */
  private settled(session: Admittable): void {
    this.unauthenticated.delete(session);
    this.admission.unauthenticated.delete(session);
  }

  private closed(session: Admittable): void {
    this.settled(session);
    this.ownLimit?.closed();
    this.admission.budget.closed();
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

  private onUdpPortsExhausted(range: string): void {
    this.ctx.stats.udp.portsExhausted++;
    if (!this.errorLogDue()) return;
    this.ctx.logger.error(
      {
        event: "udp_ports_exhausted",
        ports: range,
        udp_ports_exhausted_total: this.ctx.stats.udp.portsExhausted,
      },
      "every port of udp.ports is in use: UDP ASSOCIATE answered 01; widen the range or lower the limits",
    );
  }

  private errorLogDue(): boolean {
    const now = Date.now();
    if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return false;
    this.lastErrorLog = now;
    return true;
  }
}

function clientIpOf(socket: Socket): string {
  return socket.remoteAddress === undefined ? "unknown" : unmapIPv4(socket.remoteAddress);
}

/** The same for a TCP connection and the TLS socket over it. */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress ?? "unknown"}|${String(socket.remotePort)}`;
}
