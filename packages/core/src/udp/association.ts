import { createSocket } from "node:dgram";
import type { RemoteInfo, Socket } from "node:dgram";
import type { LookupAddress } from "node:dns";
import { randomUUID } from "node:crypto";
import { authorize, authorizeName } from "../policy/authorize.js";
import type { AccessRequest, PolicyDenial, Requester } from "../policy/authorize.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { isUnspecifiedAddress, parseIp } from "../policy/ip.js";
import { unmapIPv4 } from "../protocol/serialize.js";
import { parseUdpHeader, serializeUdpReplyHeader } from "../protocol/udp-header.js";
import { BoundedTunnel } from "../relay/bounds.js";
import type { RelayOwner } from "../relay/bounds.js";
import type { ListenerContext } from "../session/context.js";
import { reportNameRefused, reportPolicyDenied } from "../session/report.js";
import type { ReportedSession } from "../session/report.js";
import type { UdpDropReason } from "../stats.js";
import { formatHostPort } from "../util/address.js";

/** Destinations an association remembers (its policy decisions, and where replies may come from); the oldest is forgotten first. */
const MAX_DESTINATIONS = 1024;
/** Policy denials and refused names logged per association; later ones are only counted. */
const MAX_REFUSALS_LOGGED = 16;

/** The session that owns an association: who asks, and what ends it. */
export interface AssociationOwner extends RelayOwner, Requester, ReportedSession {
  /** A relay socket failed: the association (and its session) ends. */
  onAssociationError(reason: string): void;
  /** Whose lookups these are (per-client DNS caps). */
  lookupKey(): string;
  /** The provider that authenticated the session. */
  readonly provider: string | undefined;
}

/** What the admin API lists for a live association: the shape of a tunnel's record. */
export interface UdpAssociationInfo {
  readonly id: string;
  readonly listener: string;
  readonly peer: string;
  readonly identity: string | undefined;
  readonly groups: readonly string[];
  readonly provider: string | undefined;
  readonly command: "udp";
  /** Where the client sends its datagrams (`ip:port`). */
  readonly relay: string;
  /** The client's UDP source (`ip:port`; port 0 until declared or first used). */
  readonly client: string;
  readonly bytesClientToDest: number;
  readonly bytesDestToClient: number;
  readonly datagramsClientToDest: number;
  readonly datagramsDestToClient: number;
  readonly dropped: Readonly<Partial<Record<UdpDropReason, number>>>;
  /** Epoch ms on the engine's clock. */
  readonly startedAt: number;
  readonly lastActivityAt: number;
}

/**
 * One UDP ASSOCIATE (RFC 1928 §7): a client-facing relay socket (from the listener's port
 * range) and, per address family, one outbound socket. A client datagram is accepted only from
 * the client's IP (and port, once declared or first used); its header is validated as a TCP
 * request is; its destination passes the policy with the session's identity and groups
 * (decisions cached per destination until the policy is reloaded) and names are resolved by
 * the engine's resolver (cached up to their TTL). Replies come back with the header in front,
 * only from destinations the client sent to. At most `max_in_flight` datagrams wait on a
 * lookup or a send at once; the rest are dropped, so a flood cannot grow memory. Every drop is
 * counted by reason. Its idle bound is an entry on the shared timer wheel.
 */
export class UdpAssociation extends BoundedTunnel<AssociationOwner> {
  readonly kind = "udp";
  readonly id = randomUUID();
  bytesClientToDest = 0;
  bytesDestToClient = 0;
  datagramsClientToDest = 0;
  datagramsDestToClient = 0;
  readonly dropped: Partial<Record<UdpDropReason, number>> = {};
  readonly startedAt: number;
  lastActivityAt: number;

  private readonly clientIp: string;
  /** 0 until the client declared it (in the request) or first used it. */
  private clientPort: number;
  /** The client's address as the relay socket reported it (the form to send back to). */
  private clientSendAddress: string | undefined;
  private outbound4: Socket | undefined;
  private outbound6: Socket | undefined;
  /** Decisions per `name|address|port`, for the policy they were made under. */
  private readonly decisions = new Map<string, boolean>();
  private decidedUnder: CompiledPolicy | undefined;
  /** Destinations the client sent to (`address|port`), with the header their replies get. */
  private readonly sentTo = new Map<string, Buffer>();
  private inFlight = 0;
  /** Lookups under way, by name. */
  private readonly pendingNames = new Map<string, Promise<LookupAddress>>();
  private refusalsLogged = 0;
  private readonly lookups = new AbortController();
  private closed = false;
  private readonly relayAddress: string;
  private readonly relayPort: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly ctx: ListenerContext,
    owner: AssociationOwner,
    private readonly relaySocket: Socket,
    /** The port the client declared in its request (0: none). */
    declaredPort: number,
  ) {
    const udp = ctx.options.udp!;
    super(ctx.wheel, { idleTimeoutMs: udp.idleTimeoutMs, finWaitTimeoutMs: 0 }, owner);
    this.maxInFlight = udp.maxInFlight;
    this.clientIp = owner.clientIp;
    this.clientPort = declaredPort;
    this.startedAt = ctx.wheel.now();
    this.lastActivityAt = this.startedAt;
    this.decidedUnder = ctx.policy.current;
    const bound = relaySocket.address();
    this.relayAddress = bound.address;
    this.relayPort = bound.port;
    relaySocket.on("message", (datagram: Buffer, from: RemoteInfo) => this.fromClient(datagram, from));
    relaySocket.on("error", (error: NodeJS.ErrnoException) => this.failed(error));
    ctx.stats.udp.associationsOpened++;
    ctx.stats.udp.activeAssociations++;
    this.scheduleCheck();
  }

  /** The port the reply names (the relay socket's). */
  get port(): number {
    return this.relayPort;
  }

  /** Datagrams relayed either way: the idle bound watches these, not drops (a spoofer keeps nothing alive). */
  protected override bytesMoved(): number {
    return this.datagramsClientToDest + this.datagramsDestToClient;
  }

  describe(): UdpAssociationInfo {
    const owner = this.owner;
    return {
      id: this.id,
      listener: this.ctx.options.name,
      peer: owner.peer,
      identity: owner.auth?.identities[0]?.identity,
      groups: owner.auth?.groups ?? [],
      provider: owner.provider,
      command: "udp",
      relay: formatHostPort(this.relayAddress, this.relayPort),
      client: formatHostPort(this.clientIp, this.clientPort),
      bytesClientToDest: this.bytesClientToDest,
      bytesDestToClient: this.bytesDestToClient,
      datagramsClientToDest: this.datagramsClientToDest,
      datagramsDestToClient: this.datagramsDestToClient,
      dropped: { ...this.dropped },
      startedAt: this.startedAt,
      lastActivityAt: this.lastActivityAt,
    };
  }

  /** Closes every socket of the association; datagrams in flight are dropped. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelBounds();
    this.lookups.abort(new Error("association closed"));
    this.relaySocket.close();
    this.outbound4?.close();
    this.outbound6?.close();
    this.ctx.stats.udp.activeAssociations--;
  }

  // --- Client to destinations ----------------------------------------------------------------

  private fromClient(datagram: Buffer, from: RemoteInfo): void {
    const address = from.family === "IPv6" ? unmapIPv4(from.address) : from.address;
    if (address !== this.clientIp || (this.clientPort !== 0 && from.port !== this.clientPort)) {
      return this.drop("foreign_source");
    }
    const header = parseUdpHeader(datagram);
    if (!header.ok) {
      if (header.reason === "refused_name") this.noteRefusedName(header.nameRefusal!, header.shownName!, datagram);
      return this.drop(header.reason);
    }
    if (this.clientPort === 0) this.clientPort = from.port;
    this.clientSendAddress ??= from.address;
    if (header.port === 0) return this.drop("bad_destination");
    if (this.inFlight >= this.maxInFlight) return this.drop("in_flight_limit");
    const payload = datagram.subarray(header.length);
    if (header.address.type === "domain") return void this.sendByName(header.address.host, header.port, payload);
    this.sendTo(undefined, header.address.host, header.address.type === "ipv6", header.port, payload);
  }

  private async sendByName(name: string, port: number, payload: Buffer): Promise<void> {
    const byName = udpRequest(name, undefined, port);
    const denial = authorizeName(this.currentPolicy(), this.owner, byName);
    if (denial !== undefined) return this.deny(byName, formatHostPort(name, port), denial);
    this.inFlight++;
    let address: LookupAddress;
    try {
      address = await this.lookup(name);
    } catch {
      if (this.closed) return;
      this.inFlight--;
      return this.drop("dns_failed");
    }
    if (this.closed) return;
    this.inFlight--;
    this.sendTo(name, address.address, address.family === 6, port, payload);
  }

  /**
   * One lookup per name at a time: datagrams to a name being resolved wait on that lookup (each
   * counted in flight) instead of each asking the resolver (and its per-client cap) again.
   */
  private lookup(name: string): Promise<LookupAddress> {
    let pending = this.pendingNames.get(name);
    if (pending === undefined) {
      pending = this.ctx.resolveHost(name, { signal: this.lookups.signal, key: this.owner.lookupKey() });
      this.pendingNames.set(name, pending);
      const settled = (): void => void this.pendingNames.delete(name);
      pending.then(settled, settled);
    }
    return pending;
  }

  private sendTo(name: string | undefined, address: string, v6: boolean, port: number, payload: Buffer): void {
    const key = `${address}|${String(port)}`;
    if (!this.permitted(name, address, port, key)) return;
    if (!this.sentTo.has(key)) remember(this.sentTo, key, serializeUdpReplyHeader(address, port));
    const socket = v6 ? (this.outbound6 ??= this.openOutbound("udp6")) : (this.outbound4 ??= this.openOutbound("udp4"));
    if (!this.roomToSend(socket)) return;
    this.lastActivityAt = this.ctx.wheel.now();
    socket.send(payload, port, address);
    this.datagramsClientToDest++;
    this.bytesClientToDest += payload.length;
    const { udp } = this.ctx.stats;
    udp.datagramsClientToDest++;
    udp.bytesClientToDest += payload.length;
  }

  /**
   * Sends go without a callback: libuv then tries to send at once (no request, no completion),
   * and only what the socket buffer cannot take waits in its queue. That queue, plus the
   * datagrams waiting on a lookup, is what `max_in_flight` bounds.
   */
  private roomToSend(socket: Socket): boolean {
    if (this.inFlight + socket.getSendQueueCount() < this.maxInFlight) return true;
    this.drop("in_flight_limit");
    return false;
  }

  /** The policy's decision for one destination, cached until the policy is reloaded. */
  private permitted(name: string | undefined, address: string, port: number, sentKey: string): boolean {
    const policy = this.currentPolicy();
    const key = name === undefined ? sentKey : `${name}|${sentKey}`;
    const known = this.decisions.get(key);
    if (known !== undefined) {
      if (!known) this.drop("policy_denied");
      return known;
    }
    const ip = parseIp(address);
    if (ip === undefined || isUnspecifiedAddress(ip)) {
      remember(this.decisions, key, false);
      this.drop("bad_destination");
      return false;
    }
    const request = udpRequest(name, address, port);
    const verdict = authorize(policy, this.owner, request);
    remember(this.decisions, key, verdict.allowed);
    if (!verdict.allowed) this.deny(request, formatHostPort(name ?? address, port), verdict);
    return verdict.allowed;
  }

  private currentPolicy(): CompiledPolicy | undefined {
    const policy = this.ctx.policy.current;
    if (policy !== this.decidedUnder) {
      this.decisions.clear();
      this.decidedUnder = policy;
    }
    return policy;
  }

  private deny(request: AccessRequest, shown: string, denial: PolicyDenial): void {
    this.drop("policy_denied");
    if (this.refusalsLogged >= MAX_REFUSALS_LOGGED) return;
    this.refusalsLogged++;
    reportPolicyDenied(this.ctx, this.owner, "udp", shown, undefined, denial);
  }

  private noteRefusedName(reason: string, shown: string, datagram: Buffer): void {
    if (this.refusalsLogged >= MAX_REFUSALS_LOGGED) return;
    this.refusalsLogged++;
    const nameEnd = 5 + datagram[4]!;
    const port = (datagram[nameEnd]! << 8) | datagram[nameEnd + 1]!;
    reportNameRefused(this.ctx, this.owner, reason, "udp", `${shown}:${String(port)}`);
  }

  /** Bound to any address and a port the system picks; sends wait in Node until the bind is done. */
  private openOutbound(type: "udp4" | "udp6"): Socket {
    const socket = createSocket({ type });
    socket.on("message", (datagram: Buffer, from: RemoteInfo) => this.fromDestination(datagram, from));
    socket.on("error", (error: NodeJS.ErrnoException) => this.failed(error));
    socket.bind({ port: 0, exclusive: true });
    return socket;
  }

  // --- Destinations to client ----------------------------------------------------------------

  private fromDestination(datagram: Buffer, from: RemoteInfo): void {
    const address = from.family === "IPv6" ? unmapIPv4(from.address) : from.address;
    const header = this.sentTo.get(`${address}|${String(from.port)}`);
    if (header === undefined) return this.drop("unknown_source");
    if (!this.roomToSend(this.relaySocket)) return;
    this.lastActivityAt = this.ctx.wheel.now();
    this.relaySocket.send([header, datagram], this.clientPort, this.clientSendAddress);
    this.datagramsDestToClient++;
    this.bytesDestToClient += datagram.length;
    const { udp } = this.ctx.stats;
    udp.datagramsDestToClient++;
    udp.bytesDestToClient += datagram.length;
  }

  // --- Drops and failures --------------------------------------------------------------------

  private drop(reason: UdpDropReason): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    this.ctx.stats.udp.dropped[reason]++;
  }

  private failed(error: NodeJS.ErrnoException): void {
    if (this.closed) return;
    this.owner.onAssociationError(`udp_error:${error.code ?? "unknown"}`);
  }
}

function udpRequest(host: string | undefined, address: string | undefined, port: number): AccessRequest {
  return { command: "udp", host, address, port, source: undefined, sourcePort: 0 };
}

/** Adds to a bounded map, forgetting the oldest entry when it is full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_DESTINATIONS) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(key, value);
}
