import { Socket, createServer, connect, isIP } from "node:net";
import { TLSSocket } from "node:tls";
import type { SecureContext } from "node:tls";
import type { AuthDecision, NormalizedAuthInfo } from "../auth/contract.js";
import { Command, Method, Reply } from "../protocol/constants.js";
import type { ReplyCode } from "../protocol/constants.js";
import { ProtocolError, RefusedNameError } from "../protocol/errors.js";
import { parseGreeting, parseRequest, parseUserPass } from "../protocol/parse.js";
import { ProxyHeaderError, parseProxyHeader } from "../protocol/proxy-header.js";
import type { ProxyHeader } from "../protocol/proxy-header.js";
import type { Greeting, SocksRequest, UserPassCredentials } from "../protocol/parse.js";
import {
  AUTH_FAILURE,
  AUTH_SUCCESS,
  NO_ACCEPTABLE_METHODS,
  failureReply,
  methodSelection,
  serializeReply,
  unmapIPv4,
} from "../protocol/serialize.js";
import { authorize, authorizeAssociation, authorizeName, limitDenial } from "../policy/authorize.js";
import type { AccessRequest, LimitsToHold, PolicyDenial, PolicyGrant, Requester } from "../policy/authorize.js";
import { anyCidrContains } from "../policy/cidr.js";
import { isUnspecifiedAddress, parseIp } from "../policy/ip.js";
import type { LimitExceeded, LimitSlot } from "../policy/limits.js";
import { Relay } from "../relay/relay.js";
import type { RelayOwner } from "../relay/relay.js";
import { SplicedRelay, socketFd } from "../relay/splice.js";
import type { SplicedRelayOwner, SplicedTunnelEnd } from "../relay/splice.js";
import { formatHostPort, formatSocketAddress } from "../util/address.js";
import { decodeUtf8Strict } from "../util/utf8.js";
import type { WheelEntry } from "../util/timer-wheel.js";
import type { Admittable, ShedReason } from "../listener/admission.js";
import { UdpAssociation } from "../udp/association.js";
import type { AssociationOwner, UdpAssociationInfo } from "../udp/association.js";
import { UdpPortsExhaustedError } from "../udp/relay-ports.js";
import type { ListenerContext, SessionRecord, UdpSessionRecord } from "./context.js";
import type { ListableSession, LiveSession } from "./live-sessions.js";
import { replyForDialError } from "./reply-codes.js";
import { reportAuthDecision, reportNameRefused, reportPolicyDenied, reportSessionEnd } from "./report.js";

const State = {
  Greeting: 0,
  Credentials: 1,
  Authenticating: 2,
  Request: 3,
  Binding: 4,
  Connecting: 5,
  Relaying: 6,
  /** A failure reply was sent; reading and discarding until the client closes or lingering ends. */
  Closing: 7,
  Closed: 8,
  /** Before the greeting on a `proxy_protocol` listener: reading the balancer's PROXY header. */
  ProxyHeader: 9,
  /** UDP ASSOCIATE: the policy, the limits and a relay port are being taken. */
  Associating: 10,
  /** UDP ASSOCIATE replied: datagrams flow; the TCP connection only keeps the association alive. */
  Associated: 11,
  /** A TLS listener behind a balancer: the TLS handshake that follows the PROXY header. */
  TlsHandshake: 12,
} as const;
type State = (typeof State)[keyof typeof State];

/** How long a refused client may keep the connection after the failure reply. */
const FAILURE_LINGER_MS = 2000;

const kSession = Symbol("gatehouse.session");

/** Stands in for a spliced session's client socket (destroyed at the hand-over): closing it again is a no-op. */
const HANDED_OVER = new Socket();
HANDED_OVER.destroy();
type SessionSocket = Socket & { [kSession]?: Session | undefined };

/**
 * One client connection along its data path: bytes in, greeting, credentials, decision,
 * policy, dial, relay, end. Its handshake deadlines are one entry on the shared timer wheel;
 * once the tunnel is up, the Relay owns the bytes, the FINs and the idle bounds. What it logs
 * and reports is in report.ts, what it may do in policy/authorize.ts.
 */
export class Session
  implements WheelEntry, Admittable, RelayOwner, SplicedRelayOwner, Requester, AssociationOwner, ListableSession
{
  wheelDueAt = 0;
  wheelSlot = -1;
  /** In the server's LiveSessions. */
  private readonly id: number;

  private state: State = State.Greeting;
  /** Client bytes not parsed yet (and, at the relay's start, those that came with the request). */
  private pending: Buffer | undefined;
  private destSocket: Socket | undefined;
  private relay: Relay | SplicedRelay | undefined;
  private association: UdpAssociation | undefined;
  private readonly startedAt: number;
  private readonly handshakeDeadline: number;
  auth: NormalizedAuthInfo | undefined;
  /** The provider that authenticated the session. */
  provider: string | undefined;
  private command: string | undefined;
  private destination: string | undefined;
  private destinationAddress: string | undefined;
  /** CONNECT: the host name asked for (undefined for an IP address), the IP dialled and the port. */
  destinationName: string | undefined;
  destinationHost: string | undefined;
  destinationPort: number | undefined;
  /** The byte counts the last listing saw, and when they last changed (engine clock). */
  private activityBytes = 0;
  private activityAt: number;
  private sourceAddress: string | undefined;
  private sourcePort = 0;
  /** A SOCKS request was read (the handshake got past greeting and authentication). */
  private requestReceived = false;
  /** The per-identity / per-IP slot this session holds once a request passed the policy. */
  private limitSlot: LimitSlot | undefined;
  /** The client's FIN arrived before the relay started. */
  private clientFinished = false;
  private authAbort: AbortController | undefined;
  /** Aborts a host name lookup in flight: at the connect timeout or when the session ends. */
  private lookupAbort: AbortController | undefined;
  private endReason: string | undefined;
  /** Who the client is: the socket's peer, until a PROXY header names the balancer's client. */
  private origin: ClientOrigin;
  /** A PROXY v2 LOCAL header arrived: the balancer's own connection, usually a health check. */
  private balancerConnection = false;

  /** Whether authentication named `identity` (a revocation ends such sessions). */
  authenticatedAs(identity: string): boolean {
    return this.auth?.identities.some((named) => named.identity === identity) ?? false;
  }

  constructor(
    private client: Socket,
    private readonly ctx: ListenerContext,
  ) {
    this.origin = clientOrigin(client.remoteAddress, client.remotePort);
    if (ctx.options.proxyProtocol !== undefined) this.state = State.ProxyHeader;
    this.startedAt = ctx.wheel.now();
    this.activityAt = this.startedAt;
    this.handshakeDeadline = this.startedAt + ctx.options.handshakeTimeoutMs;
    ctx.stats.connectionsAccepted++;
    ctx.stats.activeConnections++;
    ctx.sessions.add(this);
    this.id = ctx.live.add(this);
    const socket = client as SessionSocket;
    socket[kSession] = this;
    socket.on("data", onClientHandshakeData);
    socket.on("end", onClientEnd);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
  }

  /**
   * Called once admission control counts the session. A `proxy_protocol` listener refuses a
   * source it does not trust before reading anything: its header would be believed otherwise.
   */
  start(): void {
    const proxyProtocol = this.ctx.options.proxyProtocol;
    if (proxyProtocol !== undefined) {
      // No address: the peer reset the connection before it was accepted, as HAProxy ends its
      // health checks. Nothing from it is read (its source cannot be checked).
      if (this.clientAddress === undefined) return this.destroy("health_check");
      const ip = parseIp(this.clientAddress);
      if (ip === undefined || !anyCidrContains(proxyProtocol.trusted, ip)) {
        return this.destroy("proxy_header:untrusted_source");
      }
    }
    this.armStepDeadline();
  }

  /** The client's `ip:port` (IPv6 in brackets): logs, records, `conn_meta.peer_address`. */
  get peer(): string {
    return this.origin.peer;
  }

  /** Shown by the operator's listing: past the anonymous part of the handshake, and not ending. */
  get listed(): boolean {
    if (this.state === State.Closing || this.state === State.Closed) return false;
    return this.auth !== undefined || this.requestReceived;
  }

  get groups(): readonly string[] {
    return this.auth?.groups ?? [];
  }

  describe(id: number, now: number, toEpoch: (time: number) => number): LiveSession {
    const { association } = this;
    const relay = this.relay ?? association;
    const bytesClientToDest = relay?.bytesClientToDest ?? 0;
    const bytesDestToClient = relay?.bytesDestToClient ?? 0;
    const moved = bytesClientToDest + bytesDestToClient;
    if (moved !== this.activityBytes) {
      this.activityBytes = moved;
      this.activityAt = now;
    }
    return {
      id,
      listener: this.ctx.options.name,
      peer: this.peer,
      identity: this.auth?.identities[0]?.identity,
      groups: this.groups,
      provider: this.provider,
      command: this.command,
      destinationName: this.destinationName,
      destinationAddress: this.destinationAddress,
      destinationPort: this.destinationPort,
      bytesClientToDest,
      bytesDestToClient,
      startedAt: toEpoch(this.startedAt),
      lastActivityAt: toEpoch(this.activityAt),
      relay: relay?.kind,
      ...(association !== undefined && { udp: udpRecord(association) }),
    };
  }

  /** The client's address as the socket (or the PROXY header) gave it; undefined when unknown. */
  get clientAddress(): string | undefined {
    return this.origin.address;
  }

  /** The key per-IP limits count the client under (IPv4 unmapped, `unknown` when unknown). */
  get clientIp(): string {
    return this.origin.ip;
  }

  // --- Bytes in ------------------------------------------------------------------------------

  receive(chunk: Buffer): void {
    // Nothing more is read on an association's TCP connection (RFC 1928 §7): it only keeps it alive.
    if (this.state === State.Closing || this.state === State.Closed || this.state === State.Associated) return;
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.advance();
  }

  private advance(): void {
    this.parsePending();
    const waitingForBytes =
      this.state === State.ProxyHeader ||
      this.state === State.TlsHandshake ||
      this.state === State.Greeting ||
      this.state === State.Credentials ||
      this.state === State.Request;
    if (waitingForBytes && this.clientFinished)
      this.destroy(this.clientLeftReason() ?? "client_closed_during_handshake");
  }

  private parsePending(): void {
    try {
      while (this.pending !== undefined) {
        switch (this.state) {
          case State.ProxyHeader: {
            const parsed = parseProxyHeader(this.pending, this.ctx.options.proxyProtocol!.versions);
            if (parsed === undefined) return;
            this.consume(parsed.length);
            if (!this.onProxyHeader(parsed.value)) return;
            break;
          }
          case State.Greeting: {
            const parsed = parseGreeting(this.pending);
            if (parsed === undefined) return;
            this.consume(parsed.length);
            this.onGreeting(parsed.value);
            break;
          }
          case State.Credentials: {
            const parsed = parseUserPass(this.pending);
            if (parsed === undefined) return;
            this.consume(parsed.length);
            void this.authenticate(parsed.value);
            return;
          }
          case State.Request: {
            const parsed = parseRequest(this.pending);
            if (parsed === undefined) return;
            this.consume(parsed.length);
            this.onRequest(parsed.value);
            return;
          }
          default:
            return; // waiting on the provider, a bind or a dial: bytes stay buffered
        }
      }
    } catch (error) {
      if (error instanceof ProxyHeaderError) {
        // No SOCKS reply: the client has not spoken SOCKS yet.
        this.pending = undefined;
        return this.destroy(`proxy_header:${error.reason}`);
      }
      if (!(error instanceof ProtocolError)) throw error;
      this.onProtocolError(error);
    }
  }

  private consume(length: number): void {
    this.pending = length >= this.pending!.length ? undefined : this.pending!.subarray(length);
  }

  private onProtocolError(error: ProtocolError): void {
    this.pending = undefined;
    switch (error.code) {
      case "unknown_command":
        return this.closeWithFailure(failureReply(Reply.CommandNotSupported), "command_not_supported");
      case "unknown_address_type":
        return this.closeWithFailure(failureReply(Reply.AddressTypeNotSupported), "address_type_not_supported");
      case "refused_name":
        if (error instanceof RefusedNameError) return this.refuseName(error);
        return this.destroy("protocol_error:refused_name");
      case "bad_reserved":
        return this.closeWithFailure(failureReply(Reply.GeneralFailure), `protocol_error:${error.code}`);
      default:
        return this.destroy(`protocol_error:${error.code}`);
    }
  }

  // --- PROXY header --------------------------------------------------------------------------

  /**
   * The balancer's header: its client becomes this session's client for everything that
   * follows (policy, limits, throttle, conn_meta, logs). The per-IP admission limit, not
   * applied to the balancer's address at accept, applies now to the address the session has.
   * False when the bytes that follow are not SOCKS yet (a TLS handshake) or that limit refused
   * the session.
   */
  private onProxyHeader(header: ProxyHeader): boolean {
    this.balancerConnection = header.command === "local";
    const { admission } = this.ctx;
    admission.settled(this); // leaves the per-IP sets under the address it was counted by
    if (header.source !== undefined) this.origin = clientOrigin(header.source.address, header.source.port);
    if (!admission.readmit(this)) {
      this.destroy("refused:unauthenticated_per_ip");
      return false;
    }
    if (this.ctx.tlsAfterProxyHeader !== undefined) {
      this.startTls(this.ctx.tlsAfterProxyHeader.current);
      return false;
    }
    this.state = State.Greeting;
    this.armStepDeadline();
    return true;
  }

  /**
   * Wraps the connection in TLS, server side, from the byte after the PROXY header (bytes already
   * read are handed to the TLS socket, which reads a socket's buffered data first).
   */
  private startTls(context: SecureContext): void {
    const raw = this.client as SessionSocket;
    raw.off("data", onClientHandshakeData);
    raw.off("end", onClientEnd);
    raw.off("close", onSocketClose);
    raw.off("error", onSocketError);
    raw.on("error", ignoreError); // the TLS socket reports what happens to the connection
    this.detach(raw);
    // Paused first: a flowing socket would emit the bytes given back at once, with no reader.
    raw.pause();
    if (this.pending !== undefined) raw.unshift(this.pending);
    this.pending = undefined;
    const secure = new TLSSocket(raw, { isServer: true, secureContext: context }) as TLSSocket & SessionSocket;
    this.client = secure;
    this.attach(secure);
    secure.on("data", onClientHandshakeData);
    secure.on("end", onClientEnd);
    secure.on("error", onSocketError);
    secure.on("close", onSocketClose);
    secure.once("secure", onClientSecure);
    this.state = State.TlsHandshake;
    this.armStepDeadline();
  }

  onClientSecure(): void {
    if (this.state !== State.TlsHandshake) return;
    this.state = State.Greeting;
    this.armStepDeadline();
  }

  /**
   * Why the session ends when its client closes or resets it before the handshake is done. A
   * balancer's health check is no failure: it opens a connection and closes it (HAProxy with a
   * reset) before any byte, or after a PROXY v2 LOCAL header and before a greeting.
   */
  private clientLeftReason(): string | undefined {
    if (this.state === State.ProxyHeader) return this.pending === undefined ? "health_check" : "proxy_header:truncated";
    const beforeGreeting = this.state === State.Greeting || this.state === State.TlsHandshake;
    if (this.balancerConnection && beforeGreeting && this.pending === undefined) return "health_check";
    return undefined;
  }

  // --- Greeting ------------------------------------------------------------------------------

  private onGreeting(greeting: Greeting): void {
    // KumoMTA's rule: username/password whenever offered, even when not required; never GSSAPI.
    if (greeting.methods.includes(Method.UserPass)) {
      this.client.write(methodSelection(Method.UserPass));
      this.state = State.Credentials;
    } else if (this.ctx.options.requireAuth) {
      return this.closeWithFailure(NO_ACCEPTABLE_METHODS, "auth_required");
    } else if (greeting.methods.includes(Method.NoAuth)) {
      this.client.write(methodSelection(Method.NoAuth));
      this.state = State.Request;
    } else {
      return this.closeWithFailure(NO_ACCEPTABLE_METHODS, "no_acceptable_method");
    }
    this.armStepDeadline();
  }

  // --- Credentials and decision --------------------------------------------------------------

  private async authenticate(credentials: UserPassCredentials): Promise<void> {
    this.state = State.Authenticating;
    this.client.pause();
    this.ctx.wheel.schedule(this, this.handshakeDeadline);
    const startedAt = this.ctx.wheel.now();
    const username = decodeUtf8Strict(credentials.username);
    const password = decodeUtf8Strict(credentials.password);
    let decision: AuthDecision;
    if (username === undefined || password === undefined) {
      decision = { allowed: false, reason: "invalid_utf8" };
    } else {
      try {
        this.authAbort = new AbortController();
        const connMeta = {
          peer_address: this.peer,
          local_address: formatSocketAddress(this.client.localAddress, this.client.localPort),
        };
        decision = await this.ctx.auth.current.decide({ username, password, connMeta }, this.authAbort.signal);
      } catch (error) {
        decision = { allowed: false, reason: "backend_error", detail: (error as Error).name };
      }
    }
    this.authAbort = undefined;
    if (!this.isIn(State.Authenticating)) return; // the client left or the deadline passed
    reportAuthDecision(this.ctx, this.peer, username, decision, this.ctx.wheel.now() - startedAt);
    if (!decision.allowed) return this.closeWithFailure(AUTH_FAILURE, `auth_failed:${decision.reason}`);
    this.auth = decision.info;
    this.provider = decision.provider;
    this.ctx.admission.settled(this);
    this.client.write(AUTH_SUCCESS);
    this.state = State.Request;
    this.armStepDeadline();
    this.client.resume();
    this.advance();
  }

  // --- Request and policy --------------------------------------------------------------------

  private onRequest(request: SocksRequest): void {
    this.requestReceived = true;
    switch (request.command) {
      case Command.Connect:
        return void this.connect(request);
      case Command.Bind:
        return void this.bindSource(request);
      default:
        // Only UDP ASSOCIATE gets here (the parser refuses unknown commands); off unless the listener enables it.
        if (this.ctx.udpPorts !== undefined) return void this.associate(request, this.ctx.udpPorts);
        this.command = "udp_associate";
        return this.closeWithFailure(failureReply(Reply.CommandNotSupported), "command_not_supported");
    }
  }

  /** A destination name that failed validation: 04, logged escaped, never resolved nor dialled. */
  private refuseName(error: RefusedNameError): void {
    this.command = COMMAND_NAMES[error.command];
    this.destination = `${error.shown}:${String(error.port)}`;
    reportNameRefused(this.ctx, this, error.reason, this.command, this.destination);
    this.closeWithFailure(failureReply(Reply.HostUnreachable), `refused_name:${error.reason}`);
  }

  /**
   * KumoMTA's BIND: choose the local source address for the CONNECT that follows on this
   * connection. The address is test-bound once so an address this host does not own is
   * refused here rather than at connect time.
   */
  private async bindSource(request: SocksRequest): Promise<void> {
    const host = request.address.host;
    if (this.sourceAddress !== undefined || isIP(host) === 0) {
      return this.closeWithFailure(failureReply(Reply.GeneralFailure), "bind_rejected");
    }
    const asked: AccessRequest = {
      command: "bind",
      host: undefined,
      address: undefined,
      port: request.port,
      source: host,
      sourcePort: request.port,
    };
    this.state = State.Binding;
    this.client.pause();
    if (!(await this.permits(asked, formatHostPort(host, request.port)))) return;
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => {
      if (this.state !== State.Binding) return;
      this.closeWithFailure(failureReply(Reply.GeneralFailure), `bind_failed:${error.code ?? "unknown"}`);
    });
    probe.listen({ host, port: request.port, exclusive: true }, () => {
      probe.close();
      if (this.state !== State.Binding) return;
      this.sourceAddress = host;
      this.sourcePort = request.port;
      this.client.write(serializeReply(Reply.Succeeded, host, request.port));
      this.state = State.Request;
      this.armStepDeadline();
      this.client.resume();
      this.advance();
    });
  }

  /**
   * UDP ASSOCIATE: the policy (could any destination be allowed?), a connection-limit slot as a
   * tunnel takes, then a relay socket from the listener's port range; the reply names it. The
   * association lives until this TCP connection ends (either side), its idle bound passes, or
   * the session is ended (revocation, drain, shutdown).
   */
  private async associate(request: SocksRequest, ports: NonNullable<ListenerContext["udpPorts"]>): Promise<void> {
    this.state = State.Associating;
    this.client.pause();
    this.command = "udp";
    if (this.clientAddress === undefined) {
      return this.closeWithFailure(failureReply(Reply.GeneralFailure), "udp_client_address_unknown");
    }
    const asked: AccessRequest = {
      command: "udp",
      host: undefined,
      address: undefined,
      port: 0,
      source: undefined,
      sourcePort: 0,
    };
    const declared = formatHostPort(request.address.host, request.port);
    if (!(await this.permits(asked, declared, authorizeAssociation(this.ctx.policy.current, this)))) return;
    let socket: Awaited<ReturnType<typeof ports.bind>>;
    try {
      socket = await ports.bind();
    } catch (error) {
      if (!this.isIn(State.Associating)) return;
      if (error instanceof UdpPortsExhaustedError) {
        this.ctx.onUdpPortsExhausted(error.range);
        return this.closeWithFailure(failureReply(Reply.GeneralFailure), "udp_ports_exhausted");
      }
      const code = (error as NodeJS.ErrnoException).code ?? "unknown";
      return this.closeWithFailure(failureReply(Reply.GeneralFailure), `udp_bind_failed:${code}`);
    }
    if (!this.isIn(State.Associating)) {
      socket.close();
      return;
    }
    const association = new UdpAssociation(this.ctx, this, socket, request.port);
    this.association = association;
    this.state = State.Associated;
    this.ctx.admission.settled(this);
    this.ctx.wheel.cancel(this);
    const bound = socket.address().address;
    const parsed = parseIp(bound);
    // Bound to every address: name the one this client reached the listener on.
    const shown = parsed !== undefined && isUnspecifiedAddress(parsed) ? this.client.localAddress : bound;
    this.client.write(serializeReply(Reply.Succeeded, shown, association.port));
    this.client.resume();
  }

  /** What the admin API lists for this session's UDP association; undefined when it has none. */
  udpAssociation(): UdpAssociationInfo | undefined {
    return this.association?.describe();
  }

  /** A relay socket of the association failed. */
  onAssociationError(reason: string): void {
    this.destroy(reason);
  }

  private async connect(request: SocksRequest): Promise<void> {
    this.state = State.Connecting;
    this.client.pause();
    this.command = "connect";
    const { host } = request.address;
    this.destination = formatHostPort(host, request.port);
    const { wheel, options } = this.ctx;
    wheel.schedule(this, Math.min(this.handshakeDeadline, wheel.now() + options.connectTimeoutMs));
    const name = request.address.type === "domain" ? host : undefined;
    this.destinationName = name;
    this.destinationPort = request.port;
    let address = host;
    if (name !== undefined) {
      // Rules that decide on the name alone come first: a name the policy denies is never looked up.
      const byName = this.connectRequest(name, undefined, request.port, 0);
      const denial = authorizeName(this.ctx.policy.current, this, byName);
      if (denial !== undefined) return this.deny(byName, this.destination, denial);
      try {
        this.lookupAbort = new AbortController();
        address = (await this.ctx.resolveHost(host, { signal: this.lookupAbort.signal, key: this.lookupKey() }))
          .address;
      } catch (error) {
        if (!this.isIn(State.Connecting)) return;
        return this.failRequest(
          replyForDialError(error),
          `dns_failed:${(error as NodeJS.ErrnoException).code ?? "unknown"}`,
        );
      }
      if (!this.isIn(State.Connecting)) return;
    }
    // 0.0.0.0/8 and :: mean "this host": Linux dials them as loopback, whatever a policy says of 127/8.
    const dialled = parseIp(address);
    if (dialled === undefined || isUnspecifiedAddress(dialled)) {
      this.destinationAddress = formatHostPort(address, request.port);
      return this.failRequest(Reply.HostUnreachable, "unspecified_address");
    }
    // The address checked here is the address dialled below: no second lookup in between.
    if (!(await this.permits(this.connectRequest(name, address, request.port, this.sourcePort), this.destination))) {
      return;
    }
    this.destinationAddress = formatHostPort(address, request.port);
    this.destinationHost = unmapIPv4(address);
    this.dial(address, request.port);
  }

  private connectRequest(
    host: string | undefined,
    address: string | undefined,
    port: number,
    sourcePort: number,
  ): AccessRequest {
    return { command: "connect", host, address, port, source: this.sourceAddress, sourcePort };
  }

  /**
   * The listener's policy, then a connection-limit slot unless the session holds one; on
   * refusal: reply 02, one `policy_denied` event, false. False too when the session ended
   * while a shared limit store was answering (the slot it got is given back).
   */
  private async permits(
    request: AccessRequest,
    shown: string,
    verdict: PolicyGrant | PolicyDenial = authorize(this.ctx.policy.current, this, request),
  ): Promise<boolean> {
    if (!verdict.allowed) {
      this.deny(request, shown, verdict);
      return false;
    }
    if (verdict.limits === undefined || this.limitSlot !== undefined) return true;
    const slot = await this.acquireLimitSlot(verdict.limits);
    if (slot === undefined) return false;
    if (typeof slot === "string") {
      this.deny(request, shown, limitDenial(slot));
      return false;
    }
    this.limitSlot = slot;
    return true;
  }

  /** A slot from the limit store; undefined when the session ended meanwhile. */
  private async acquireLimitSlot(limits: LimitsToHold): Promise<LimitSlot | LimitExceeded | undefined> {
    const { limits: store } = this.ctx;
    const identity = this.auth?.identities[0]?.identity;
    const pending = store.tryAcquire(identity, this.clientIp, limits.maxPerIdentity, limits.maxPerIp);
    if (!(pending instanceof Promise)) return pending;
    const state = this.state;
    const slot = await pending;
    if (this.state === state) return slot;
    if (typeof slot !== "string") store.release(slot);
    return undefined;
  }

  private deny(request: AccessRequest, shown: string, denial: PolicyDenial): void {
    reportPolicyDenied(this.ctx, this, request.command, shown, this.sourceAddress, denial);
    this.closeWithFailure(failureReply(Reply.NotAllowedByRuleset), `policy_denied:${denial.rule}`);
  }

  /** Who a lookup is counted against: the identity, or before authentication the client's IP. */
  lookupKey(): string {
    const identity = this.auth?.identities[0]?.identity;
    if (identity !== undefined) return `identity:${identity}`;
    return `ip:${this.clientIp}`;
  }

  // --- Dial ----------------------------------------------------------------------------------

  private dial(address: string, port: number): void {
    const keepAliveMs = this.ctx.options.keepAliveMs;
    const dest = connect({
      host: address,
      port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: keepAliveMs > 0,
      keepAliveInitialDelay: keepAliveMs,
      autoSelectFamily: false,
      ...(this.sourceAddress !== undefined && { localAddress: this.sourceAddress }),
      ...(this.sourcePort > 0 && { localPort: this.sourcePort }),
    }) as SessionSocket;
    dest[kSession] = this;
    this.destSocket = dest;
    dest.once("connect", onDestConnect);
    dest.on("error", onSocketError);
    dest.on("close", onSocketClose);
  }

  // --- Relay ---------------------------------------------------------------------------------

  onDestConnected(): void {
    if (!this.isIn(State.Connecting)) return;
    const dest = this.destSocket!;
    this.state = State.Relaying;
    this.ctx.admission.settled(this);
    this.ctx.wheel.cancel(this);
    this.ctx.stats.activeTunnels++;
    this.activityAt = this.ctx.wheel.now();
    this.client.write(serializeReply(Reply.Succeeded, dest.localAddress, dest.localPort));
    this.client.removeListener("data", onClientHandshakeData);
    const early = this.pending;
    this.pending = undefined;
    this.relay = this.spliceTunnel(dest, early) ?? this.pumpTunnel(dest, early);
  }

  /** The JS relay: every byte through a Buffer, with the early payload sent first. */
  private pumpTunnel(dest: Socket, early: Buffer | undefined, alreadySent = 0): Relay {
    const relay = new Relay(this.client, dest, this.ctx.wheel, this.ctx.options, this);
    relay.bytesClientToDest = alreadySent;
    relay.start(early, this.clientFinished);
    return relay;
  }

  /**
   * The splice backend, when the listener has one and both legs are plain TCP: the early
   * payload (read with the request, or buffered since) is written to the destination first, and
   * the descriptors are handed over once nothing is left in Node's buffers either way. Otherwise
   * (a write that did not complete at once, no descriptors left to duplicate) the JS relay
   * carries on from where this left off.
   */
  private spliceTunnel(dest: Socket, early: Buffer | undefined): Relay | SplicedRelay | undefined {
    const backend = this.ctx.splice;
    if (backend === undefined) return undefined;
    const clientFd = socketFd(this.client);
    const destFd = socketFd(dest);
    if (clientFd === undefined || destFd === undefined) return undefined;
    const buffered = this.client.readableLength > 0 ? (this.client.read() as Buffer | null) : null;
    const payload = buffered === null ? early : early === undefined ? buffered : Buffer.concat([early, buffered]);
    if (payload !== undefined) dest.write(payload);
    const sent = payload?.length ?? 0;
    const flushed = this.client.writableLength === 0 && dest.writableLength === 0 && dest.readableLength === 0;
    if (!flushed) return this.pumpTunnel(dest, undefined, sent);
    try {
      this.detach(this.client);
      this.detach(dest);
      const relay = SplicedRelay.start(
        backend,
        { client: this.client, dest, clientFd, destFd },
        {
          wheel: this.ctx.wheel,
          bounds: this.ctx.options,
          owner: this,
          earlyClientToDest: sent,
        },
      );
      // The destroyed sockets are garbage now: an idle spliced tunnel keeps only its bookkeeping.
      this.client = HANDED_OVER;
      this.destSocket = undefined;
      return relay;
    } catch (error) {
      this.attach(this.client);
      this.attach(dest);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EMFILE" || code === "ENFILE") this.ctx.onResourceExhausted(code);
      return this.pumpTunnel(dest, undefined, sent);
    }
  }

  /** The spliced tunnel's sockets are destroyed once the backend holds their descriptors: their events are no longer ours. */
  private detach(socket: SessionSocket): void {
    socket[kSession] = undefined;
  }

  private attach(socket: SessionSocket): void {
    socket[kSession] = this;
  }

  /** A spliced tunnel ended on its own: both FINs passed on, or a leg reset or failed. */
  onSplicedEnd(end: SplicedTunnelEnd): void {
    if (this.state !== State.Relaying) return;
    if (end.reason === "completed") {
      this.state = State.Closed;
      this.endReason ??= "completed";
      return this.finish();
    }
    const side = end.reason === "client_closed" ? "client" : "dest";
    this.destroy(end.code === undefined ? end.reason : `${side}_error:${end.code}`);
  }

  onRelayTimeout(reason: "idle_timeout" | "fin_wait_timeout"): void {
    this.destroy(reason);
  }

  // --- Socket events and deadlines -----------------------------------------------------------

  onClientEnded(): void {
    switch (this.state) {
      case State.Relaying:
        return; // the relay passes the FIN on
      case State.Associated:
        return this.destroy("client_closed");
      case State.Authenticating:
      case State.Binding:
      case State.Connecting:
        // A client may send its whole handshake and payload, then shut down its write side:
        // the FIN is passed on once the tunnel is up (or the session ends if bytes are missing).
        this.clientFinished = true;
        return;
      default:
        return this.destroy(this.clientLeftReason() ?? "client_closed_during_handshake");
    }
  }

  onSocketClosed(socket: Socket, hadError: boolean): void {
    if (socket !== this.client && socket !== this.destSocket) return;
    if (this.state === State.Closing && socket === this.client) return this.destroy(this.endReason ?? "closed");
    if (this.state === State.Relaying) {
      if (this.relay?.kind !== "js") return; // a spliced tunnel's sockets are detached before they close
      const end = this.relay.legClosed(socket, hadError);
      if (end === "completed") {
        this.state = State.Closed;
        this.endReason ??= end;
        this.finish();
      } else if (end !== undefined) {
        this.destroy(end);
      }
      return;
    }
    if (socket === this.client && this.state === State.Associated) return this.destroy("client_closed");
    if (socket === this.client) this.destroy(this.clientLeftReason() ?? "client_closed_during_handshake");
    // a failed dial is handled by its error
  }

  onSocketError(socket: Socket, error: NodeJS.ErrnoException): void {
    if (socket === this.destSocket && this.state === State.Connecting) {
      if (error.code === "EMFILE" || error.code === "ENFILE") this.ctx.onResourceExhausted(error.code);
      return this.failRequest(replyForDialError(error), `connect_failed:${error.code ?? "unknown"}`);
    }
    const side = socket === this.client ? "client" : "dest";
    const left = socket === this.client ? this.clientLeftReason() : undefined;
    this.destroy(left ?? `${side}_error:${error.code ?? "unknown"}`);
  }

  /** The handshake's deadlines (step, whole handshake, connect) and the linger after a refusal. */
  onWheelExpire(now: number): void {
    switch (this.state) {
      case State.Closing:
        return this.destroy(this.endReason ?? "closed");
      case State.Relaying:
      case State.Associated:
      case State.Closed:
        return;
      case State.ProxyHeader:
        return this.destroy(now >= this.handshakeDeadline ? "handshake_timeout" : "proxy_header:timeout");
      case State.Connecting:
        return this.failRequest(
          Reply.TtlExpired,
          now < this.handshakeDeadline ? "connect_timeout" : "handshake_timeout",
        );
      default:
        return this.destroy(now >= this.handshakeDeadline ? "handshake_timeout" : "step_timeout");
    }
  }

  private armStepDeadline(): void {
    const { wheel, options } = this.ctx;
    wheel.schedule(this, Math.min(this.handshakeDeadline, wheel.now() + options.stepTimeoutMs));
  }

  /** Re-reads the state after an await (where it may have changed). */
  private isIn(state: State): boolean {
    return this.state === state;
  }

  // --- End -----------------------------------------------------------------------------------

  private failRequest(code: ReplyCode, reason: string): void {
    this.lookupAbort?.abort(new Error(reason));
    const dest = this.destSocket as SessionSocket | undefined;
    if (dest !== undefined) {
      dest[kSession] = undefined;
      dest.destroy();
      this.destSocket = undefined;
    }
    this.closeWithFailure(failureReply(code), reason);
  }

  /** Sends a final reply, half-closes, and discards whatever else arrives until the client closes. */
  private closeWithFailure(reply: Buffer, reason: string): void {
    this.endReason = reason;
    this.pending = undefined;
    this.state = State.Closing;
    this.client.end(reply);
    this.client.resume();
    const { wheel, options } = this.ctx;
    wheel.schedule(this, wheel.now() + Math.min(FAILURE_LINGER_MS, options.stepTimeoutMs));
  }

  /** Waiting on the client before any login (or lingering after a refusal): may make room for another. */
  get evictable(): boolean {
    switch (this.state) {
      case State.ProxyHeader:
      case State.TlsHandshake:
      case State.Greeting:
      case State.Credentials:
      case State.Closing:
        return true;
      case State.Request:
        return this.auth === undefined;
      default:
        return false;
    }
  }

  evict(reason: ShedReason): void {
    this.destroy(`evicted:${reason}`);
  }

  /** Ends the session at once: both legs destroyed, one record written. */
  destroy(reason: string): void {
    if (this.state === State.Closed) return;
    this.endReason ??= reason;
    this.state = State.Closed;
    this.authAbort?.abort(new Error(`session ended: ${reason}`));
    this.lookupAbort?.abort(new Error(`session ended: ${reason}`));
    this.client.destroy();
    this.destSocket?.destroy();
    this.finish();
  }

  /** Gives back what the session held, counts it, and writes its record. */
  private finish(): void {
    const { ctx, association } = this;
    const relay = this.relay ?? association;
    ctx.wheel.cancel(this);
    relay?.stop();
    ctx.sessions.delete(this);
    ctx.live.delete(this.id);
    if (this.limitSlot !== undefined) ctx.limits.release(this.limitSlot);
    this.limitSlot = undefined;
    const bytesClientToDest = relay?.bytesClientToDest ?? 0;
    const bytesDestToClient = relay?.bytesDestToClient ?? 0;
    ctx.stats.activeConnections--;
    if (this.relay !== undefined) ctx.stats.activeTunnels--;
    ctx.stats.bytesClientToDest += bytesClientToDest;
    ctx.stats.bytesDestToClient += bytesDestToClient;
    ctx.admission.closed(this);
    const record: SessionRecord = {
      listener: ctx.options.name,
      peer: this.peer,
      identity: this.auth?.identities[0]?.identity,
      groups: this.auth?.groups ?? [],
      command: this.command,
      destination: this.destination,
      destinationAddress: this.destinationAddress,
      sourceAddress: this.sourceAddress,
      bytesClientToDest,
      bytesDestToClient,
      durationMs: ctx.wheel.now() - this.startedAt,
      reason: this.endReason ?? "closed",
      tunnel: relay !== undefined,
      relay: relay?.kind,
      ...(association !== undefined && { udp: udpRecord(association) }),
    };
    const anonymousFailure = relay === undefined && this.auth === undefined && !this.requestReceived;
    reportSessionEnd(ctx, record, anonymousFailure);
  }
}

function udpRecord(association: UdpAssociation): UdpSessionRecord {
  const info = association.describe();
  return {
    relay: info.relay,
    client: info.client,
    datagramsClientToDest: info.datagramsClientToDest,
    datagramsDestToClient: info.datagramsDestToClient,
    dropped: info.dropped,
  };
}

interface ClientOrigin {
  readonly peer: string;
  readonly address: string | undefined;
  readonly ip: string;
}

function clientOrigin(address: string | undefined, port: number | undefined): ClientOrigin {
  return {
    peer: formatSocketAddress(address, port),
    address,
    ip: address === undefined ? "unknown" : unmapIPv4(address),
  };
}

const COMMAND_NAMES: Readonly<Record<number, string>> = {
  [Command.Connect]: "connect",
  [Command.Bind]: "bind",
  [Command.UdpAssociate]: "udp_associate",
};

function onClientHandshakeData(this: SessionSocket, chunk: Buffer): void {
  this[kSession]?.receive(chunk);
}

function onClientSecure(this: SessionSocket): void {
  this[kSession]?.onClientSecure();
}

function ignoreError(): void {}

function onClientEnd(this: SessionSocket): void {
  this[kSession]?.onClientEnded();
}

function onDestConnect(this: SessionSocket): void {
  this[kSession]?.onDestConnected();
}

function onSocketError(this: SessionSocket, error: NodeJS.ErrnoException): void {
  this[kSession]?.onSocketError(this, error);
}

function onSocketClose(this: SessionSocket, hadError: boolean): void {
  this[kSession]?.onSocketClosed(this, hadError);
}
