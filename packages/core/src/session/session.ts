import { createServer, connect, isIP } from "node:net";
import type { Socket } from "node:net";
import type { AuthDecision, NormalizedAuthInfo } from "../auth/contract.js";
import { classifyAuthDecision } from "../auth/outcome.js";
import { Command, Method, Reply } from "../protocol/constants.js";
import type { ReplyCode } from "../protocol/constants.js";
import { ProtocolError, RefusedNameError } from "../protocol/errors.js";
import { parseGreeting, parseRequest, parseUserPass } from "../protocol/parse.js";
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
import { decisionLabel, evaluatePolicy, evaluatePolicyBeforeLookup } from "../policy/evaluate.js";
import type { PolicyDecision, PolicyRequest } from "../policy/evaluate.js";
import { isUnspecifiedAddress, parseIp } from "../policy/ip.js";
import { sourcePortNamed } from "../policy/source.js";
import type { LimitSlot } from "../policy/limits.js";
import type { PolicyCommand } from "../policy/options.js";
import { startRelay } from "../relay/relay.js";
import type { Tunnel } from "../relay/relay.js";
import { formatHostPort, formatSocketAddress } from "../util/address.js";
import { decodeUtf8Strict } from "../util/utf8.js";
import type { WheelEntry } from "../util/timer-wheel.js";
import type { Admittable, ShedReason } from "../listener/admission.js";
import type { ListenerContext, PolicyDeniedEvent, SessionRecord } from "./context.js";
import { replyForDialError } from "./reply-codes.js";

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
} as const;
type State = (typeof State)[keyof typeof State];

/** The rule (and reason) of a BIND refused for asking a source port no allowing rule names. */
const SOURCE_PORT_NOT_NAMED = "source_port_not_named";

/** How long a refused client may keep the connection after the failure reply. */
const FAILURE_LINGER_MS = 2000;

const kSession = Symbol("gatehouse.session");
type SessionSocket = Socket & { [kSession]?: Session | undefined };

/**
 * One client connection: the SOCKS5 state machine from greeting to relay, its deadlines
 * (one entry on the shared timer wheel) and its end-of-session record.
 */
export class Session implements Tunnel, WheelEntry, Admittable {
  wheelDueAt = 0;
  wheelSlot = -1;

  bytesClientToDest = 0;
  bytesDestToClient = 0;
  clientEnded = false;
  destEnded = false;

  private state: State = State.Greeting;
  private pending: Buffer | undefined;
  private destSocket: Socket | undefined;
  private readonly startedAt = Date.now();
  private readonly handshakeDeadline: number;
  private auth: NormalizedAuthInfo | undefined;
  private command: string | undefined;
  private destination: string | undefined;
  private destinationAddress: string | undefined;
  private sourceAddress: string | undefined;
  private sourcePort = 0;
  private relayStarted = false;
  /** A SOCKS request was read (the handshake got past greeting and authentication). */
  private requestReceived = false;
  /** The per-identity / per-IP slot this session holds once a request passed the policy. */
  private limitSlot: LimitSlot | undefined;
  /** The client's FIN arrived before the relay started. */
  private clientFinished = false;
  private authAbort: AbortController | undefined;
  /** Aborts a host name lookup in flight: at the connect timeout or when the session ends. */
  private lookupAbort: AbortController | undefined;
  private clientClosed = false;
  private destClosed = false;
  private activityMark = -1;
  private endReason: string | undefined;
  private readonly peer: string;
  readonly clientIp: string;

  constructor(
    readonly client: Socket,
    private readonly ctx: ListenerContext,
  ) {
    this.peer = formatSocketAddress(client.remoteAddress, client.remotePort);
    this.clientIp = client.remoteAddress === undefined ? "unknown" : unmapIPv4(client.remoteAddress);
    this.handshakeDeadline = this.startedAt + ctx.options.handshakeTimeoutMs;
    ctx.stats.connectionsAccepted++;
    ctx.stats.activeConnections++;
    ctx.sessions.add(this);
    const socket = client as SessionSocket;
    socket[kSession] = this;
    socket.on("data", onClientHandshakeData);
    socket.on("end", onClientEnd);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
    this.armStepDeadline(ctx.options.stepTimeoutMs);
  }

  /** Waiting on the client before any login (or lingering after a refusal): may make room for another. */
  get evictable(): boolean {
    switch (this.state) {
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

  get dest(): Socket {
    return this.destSocket!;
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

  receive(chunk: Buffer): void {
    if (this.state === State.Closing || this.state === State.Closed) return;
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.advance();
  }

  onWheelExpire(now: number): void {
    switch (this.state) {
      case State.Relaying:
        return this.checkActivity();
      case State.Closing:
        return this.destroy(this.endReason ?? "closed");
      case State.Closed:
        return;
      case State.Connecting:
        return this.failRequest(
          Reply.TtlExpired,
          now < this.handshakeDeadline ? "connect_timeout" : "handshake_timeout",
        );
      default:
        return this.destroy(now >= this.handshakeDeadline ? "handshake_timeout" : "step_timeout");
    }
  }

  onHalfClose(): void {
    this.scheduleRelayCheck();
  }

  onClientEnded(): void {
    switch (this.state) {
      case State.Relaying:
        return; // the relay's own handler forwards the FIN
      case State.Authenticating:
      case State.Binding:
      case State.Connecting:
        // A client may send its whole handshake and payload, then shut down its write side:
        // the FIN is passed on once the tunnel is up (or the session ends if bytes are missing).
        this.clientFinished = true;
        return;
      default:
        return this.destroy("client_closed_during_handshake");
    }
  }

  onSocketClosed(socket: Socket, hadError: boolean): void {
    if (socket === this.client) this.clientClosed = true;
    else if (socket === this.destSocket) this.destClosed = true;
    else return;
    if (this.state === State.Closing && socket === this.client) return this.destroy(this.endReason ?? "closed");
    if (this.state !== State.Relaying) {
      if (socket === this.client) this.destroy("client_closed_during_handshake");
      return; // a failed dial is handled by its error
    }
    const graceful = this.clientEnded && this.destEnded && !hadError;
    if (!graceful) return this.destroy(socket === this.client ? "client_closed" : "dest_closed");
    if (this.clientClosed && this.destClosed) {
      this.state = State.Closed;
      this.endReason ??= "completed";
      this.finish();
    }
  }

  onSocketError(socket: Socket, error: NodeJS.ErrnoException): void {
    if (socket === this.destSocket && this.state === State.Connecting) {
      if (error.code === "EMFILE" || error.code === "ENFILE") this.ctx.onResourceExhausted(error.code);
      return this.failRequest(replyForDialError(error), `connect_failed:${error.code ?? "unknown"}`);
    }
    const side = socket === this.client ? "client" : "dest";
    this.destroy(`${side}_error:${error.code ?? "unknown"}`);
  }

  private advance(): void {
    this.parsePending();
    const waitingForBytes =
      this.state === State.Greeting || this.state === State.Credentials || this.state === State.Request;
    if (waitingForBytes && this.clientFinished) this.destroy("client_closed_during_handshake");
  }

  private parsePending(): void {
    try {
      while (this.pending !== undefined) {
        switch (this.state) {
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
      if (!(error instanceof ProtocolError)) throw error;
      this.onProtocolError(error);
    }
  }

  private consume(length: number): void {
    this.pending = length >= this.pending!.length ? undefined : this.pending!.subarray(length);
  }

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
    this.armStepDeadline(this.ctx.options.stepTimeoutMs);
  }

  private async authenticate(credentials: UserPassCredentials): Promise<void> {
    this.state = State.Authenticating;
    this.client.pause();
    this.ctx.wheel.schedule(this, this.handshakeDeadline);
    const startedAt = Date.now();
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
    this.recordAuth(username, decision, Date.now() - startedAt);
    if (!decision.allowed) return this.closeWithFailure(AUTH_FAILURE, `auth_failed:${decision.reason}`);
    this.auth = decision.info;
    this.ctx.admission.settled(this);
    this.client.write(AUTH_SUCCESS);
    this.state = State.Request;
    this.armStepDeadline(this.ctx.options.stepTimeoutMs);
    this.client.resume();
    this.advance();
  }

  private recordAuth(username: string | undefined, decision: AuthDecision, durationMs: number): void {
    const { stats, logger, hooks, options } = this.ctx;
    if (decision.allowed) stats.authAllowed++;
    else stats.authDenied++;
    hooks.onAuthDecision?.({ listener: options.name, peer: this.peer, username, decision, durationMs });
    const { outcome, reason } = classifyAuthDecision(decision);
    const fields = {
      event: "auth",
      outcome,
      reason,
      provider: decision.provider,
      username,
      identities: decision.allowed ? decision.info.identities.map((entry) => entry.identity) : [],
      groups: decision.allowed ? decision.info.groups : [],
      peer_address: this.peer,
      cached: decision.cached === true,
      duration_ms: durationMs,
      ...(!decision.allowed && decision.detail !== undefined && { detail: decision.detail }),
    };
    if (outcome === "error") logger.warn(fields, "auth error");
    // Throttled, undecodable or abandoned attempts cost an anonymous client nothing: debug only
    // (the session's end is counted in the handshake_failures summary).
    else if (outcome === "allow" || reason === "bad_credentials") logger.info(fields, "auth decision");
    else logger.debug(fields, "auth decision");
  }

  private onRequest(request: SocksRequest): void {
    this.requestReceived = true;
    switch (request.command) {
      case Command.Connect:
        return void this.connect(request);
      case Command.Bind:
        return this.bindSource(request);
      default:
        this.command = "udp_associate";
        return this.closeWithFailure(failureReply(Reply.CommandNotSupported), "command_not_supported");
    }
  }

  /**
   * KumoMTA's BIND: choose the local source address for the CONNECT that follows on this
   * connection. The address is test-bound once so an address this host does not own is
   * refused here rather than at connect time.
   */
  private bindSource(request: SocksRequest): void {
    const host = request.address.host;
    if (this.sourceAddress !== undefined || isIP(host) === 0) {
      return this.closeWithFailure(failureReply(Reply.GeneralFailure), "bind_rejected");
    }
    const shown = formatHostPort(host, request.port);
    if (!this.authorize("bind", undefined, undefined, request.port, host, shown, request.port)) return;
    this.state = State.Binding;
    this.client.pause();
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
      this.armStepDeadline(this.ctx.options.stepTimeoutMs);
      this.client.resume();
      this.advance();
    });
  }

  private async connect(request: SocksRequest): Promise<void> {
    this.state = State.Connecting;
    this.client.pause();
    this.command = "connect";
    const { host } = request.address;
    this.destination = formatHostPort(host, request.port);
    this.ctx.wheel.schedule(this, Math.min(this.handshakeDeadline, Date.now() + this.ctx.options.connectTimeoutMs));
    const name = request.address.type === "domain" ? host : undefined;
    let address = host;
    if (name !== undefined) {
      // Rules that decide on the name alone come first: a name the policy denies is never looked up.
      if (!this.authorizeName(name, request.port)) return;
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
    if (!this.authorize("connect", name, address, request.port, this.sourceAddress, this.destination, this.sourcePort))
      return;
    this.destinationAddress = formatHostPort(address, request.port);
    const keepAliveMs = this.ctx.options.keepAliveMs;
    const dest = connect({
      host: address,
      port: request.port,
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

  /**
   * The listener's policy and connection limits, after auth and after the request is parsed
   * (and a host name resolved). On refusal: reply 02, one `policy_denied` event, false.
   */
  /** The policy before a host name's lookup; false (after reply 02) when the name alone is denied. */
  private authorizeName(name: string, port: number): boolean {
    const policy = this.ctx.policy.current;
    if (policy === undefined) return true;
    const decision = evaluatePolicyBeforeLookup(
      policy,
      this.policyRequest("connect", name, undefined, port, this.sourceAddress),
    );
    if (decision === undefined || decision.allowed) return true;
    this.deny("connect", this.destination!, decision);
    return false;
  }

  private authorize(
    command: PolicyCommand,
    /** The requested host name; undefined for an IP address. */
    host: string | undefined,
    address: string | undefined,
    port: number,
    source: string | undefined,
    shown: string,
    /** BIND: the port asked for; CONNECT: the one bound earlier (0: the system picks). */
    sourcePort: number,
  ): boolean {
    const policy = this.ctx.policy.current;
    // A chosen source port (say 25) is a privilege: only a rule that names it grants it.
    const portToName = command === "bind" && sourcePort !== 0 && source !== undefined ? parseIp(source) : undefined;
    if (policy === undefined) {
      if (portToName === undefined) return true;
      this.denyByPolicy(command, shown, SOURCE_PORT_NOT_NAMED, -1, SOURCE_PORT_NOT_NAMED);
      return false;
    }
    const auth = this.auth;
    const decision = evaluatePolicy(policy, this.policyRequest(command, host, address, port, source, sourcePort));
    if (!decision.allowed) {
      this.deny(command, shown, decision);
      return false;
    }
    if (portToName !== undefined && !sourcePortNamed(decision.rule?.source, portToName, sourcePort)) {
      this.denyByPolicy(command, shown, SOURCE_PORT_NOT_NAMED, decision.index, SOURCE_PORT_NOT_NAMED);
      return false;
    }
    if (this.limitSlot !== undefined) return true;
    const clientIp = this.client.remoteAddress === undefined ? "unknown" : unmapIPv4(this.client.remoteAddress);
    const slot = this.ctx.limits.tryAcquire(
      auth?.identities[0]?.identity,
      clientIp,
      policy.maxPerIdentity,
      policy.maxPerIp,
    );
    if (typeof slot === "string") {
      this.denyByPolicy(command, shown, slot, -1, slot);
      return false;
    }
    this.limitSlot = slot;
    return true;
  }

  private policyRequest(
    command: PolicyCommand,
    host: string | undefined,
    address: string | undefined,
    port: number,
    source: string | undefined,
    sourcePort = 0,
  ): PolicyRequest {
    const auth = this.auth;
    return {
      identities: auth === undefined ? [] : auth.identities.map((entry) => entry.identity),
      groups: auth?.groups ?? [],
      authenticated: auth !== undefined,
      client: this.client.remoteAddress === undefined ? undefined : parseIp(this.client.remoteAddress),
      command,
      host,
      address: address === undefined ? undefined : parseIp(address),
      port,
      source: source === undefined ? undefined : parseIp(source),
      sourcePort,
    };
  }

  private deny(command: PolicyCommand, shown: string, decision: PolicyDecision): void {
    this.denyByPolicy(command, shown, decisionLabel(decision), decision.index, decision.rule ? "rule" : "default");
  }

  private denyByPolicy(
    command: PolicyCommand,
    destination: string,
    rule: string,
    ruleIndex: number,
    reason: PolicyDeniedEvent["reason"],
  ): void {
    const { hooks, logger, options } = this.ctx;
    const identity = this.auth?.identities[0]?.identity;
    hooks.onPolicyDenied?.({
      listener: options.name,
      peer: this.peer,
      identity,
      command,
      destination,
      rule,
      ruleIndex,
      reason,
    });
    logger.info(
      {
        event: "policy_denied",
        rule,
        rule_index: ruleIndex,
        reason,
        identity,
        groups: this.auth?.groups ?? [],
        peer_address: this.peer,
        command,
        destination,
        ...(command === "connect" && this.sourceAddress !== undefined && { source_address: this.sourceAddress }),
      },
      "request denied by policy",
    );
    this.closeWithFailure(failureReply(Reply.NotAllowedByRuleset), `policy_denied:${rule}`);
  }

  onDestConnected(): void {
    if (!this.isIn(State.Connecting)) return;
    const dest = this.dest;
    this.state = State.Relaying;
    this.relayStarted = true;
    this.ctx.admission.settled(this);
    this.ctx.wheel.cancel(this);
    this.ctx.stats.activeTunnels++;
    this.client.write(serializeReply(Reply.Succeeded, dest.localAddress, dest.localPort));
    this.client.removeListener("data", onClientHandshakeData);
    startRelay(this);
    const early = this.pending;
    this.pending = undefined;
    let flowing = true;
    if (early !== undefined) {
      this.bytesClientToDest += early.length;
      flowing = dest.write(early);
    }
    if (this.clientFinished) {
      this.clientEnded = true;
      dest.end();
      this.onHalfClose();
    }
    if (flowing) this.client.resume(); // otherwise the dest's drain resumes it
    if (this.ctx.options.idleTimeoutMs > 0) this.scheduleRelayCheck();
  }

  /** Idle and FIN-wait bounds: due when no byte moved for the period. */
  private scheduleRelayCheck(): void {
    if (this.state !== State.Relaying) return;
    const halfClosed = this.clientEnded !== this.destEnded;
    const { idleTimeoutMs, finWaitTimeoutMs } = this.ctx.options;
    const periods = [idleTimeoutMs, halfClosed ? finWaitTimeoutMs : 0].filter((ms) => ms > 0);
    if (periods.length === 0) return this.ctx.wheel.cancel(this);
    this.activityMark = this.bytesClientToDest + this.bytesDestToClient;
    this.ctx.wheel.schedule(this, Date.now() + Math.min(...periods));
  }

  private checkActivity(): void {
    const moved = this.bytesClientToDest + this.bytesDestToClient;
    if (moved !== this.activityMark) return this.scheduleRelayCheck();
    const halfClosed = this.clientEnded !== this.destEnded;
    this.destroy(halfClosed ? "fin_wait_timeout" : "idle_timeout");
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

  /** A destination name that failed validation: 04, logged escaped, never resolved nor dialled. */
  private refuseName(error: RefusedNameError): void {
    this.command = COMMAND_NAMES[error.command];
    this.destination = `${error.shown}:${String(error.port)}`;
    this.ctx.logger.info(
      {
        event: "name_refused",
        reason: error.reason,
        peer_address: this.peer,
        identity: this.auth?.identities[0]?.identity,
        command: this.command,
        destination: this.destination,
      },
      "destination name refused",
    );
    this.closeWithFailure(failureReply(Reply.HostUnreachable), `refused_name:${error.reason}`);
  }

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
    this.ctx.wheel.schedule(this, Date.now() + Math.min(FAILURE_LINGER_MS, this.ctx.options.stepTimeoutMs));
  }

  /** Who a lookup is counted against: the identity, or before authentication the client's IP. */
  private lookupKey(): string {
    const identity = this.auth?.identities[0]?.identity;
    if (identity !== undefined) return `identity:${identity}`;
    return `ip:${this.client.remoteAddress === undefined ? "unknown" : unmapIPv4(this.client.remoteAddress)}`;
  }

  /** Re-reads the state after an await (where it may have changed). */
  private isIn(state: State): boolean {
    return this.state === state;
  }

  private armStepDeadline(stepMs: number): void {
    this.ctx.wheel.schedule(this, Math.min(this.handshakeDeadline, Date.now() + stepMs));
  }

  private finish(): void {
    const { ctx } = this;
    ctx.wheel.cancel(this);
    ctx.sessions.delete(this);
    if (this.limitSlot !== undefined) ctx.limits.release(this.limitSlot);
    this.limitSlot = undefined;
    ctx.stats.activeConnections--;
    if (this.relayStarted) ctx.stats.activeTunnels--;
    ctx.stats.bytesClientToDest += this.bytesClientToDest;
    ctx.stats.bytesDestToClient += this.bytesDestToClient;
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
      bytesClientToDest: this.bytesClientToDest,
      bytesDestToClient: this.bytesDestToClient,
      durationMs: Date.now() - this.startedAt,
      reason: this.endReason ?? "closed",
      tunnel: this.relayStarted,
    };
    ctx.hooks.onSessionEnd?.(record);
    const fields = {
      event: "session_end",
      peer: record.peer,
      identity: record.identity,
      command: record.command,
      destination: record.destination,
      destination_address: record.destinationAddress,
      source_address: record.sourceAddress,
      bytes_client_to_dest: record.bytesClientToDest,
      bytes_dest_to_client: record.bytesDestToClient,
      duration_ms: record.durationMs,
      reason: record.reason,
    };
    // Evictions are logged as counts (connection_limit_reached, unauthenticated_limit). Nobody
    // authenticated and no request was made: one line each would let an anonymous client write
    // the log as fast as it can connect, so those are counted in handshake_failures instead.
    const evicted = record.reason.startsWith("evicted:");
    const anonymousFailure = !this.relayStarted && this.auth === undefined && !this.requestReceived;
    if (anonymousFailure && !evicted) ctx.handshakeFailures.record(record.reason);
    ctx.logger[evicted || anonymousFailure ? "debug" : "info"](fields, "session end");
  }
}

const COMMAND_NAMES: Readonly<Record<number, string>> = {
  [Command.Connect]: "connect",
  [Command.Bind]: "bind",
  [Command.UdpAssociate]: "udp_associate",
};

function onClientHandshakeData(this: SessionSocket, chunk: Buffer): void {
  this[kSession]?.receive(chunk);
}

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
