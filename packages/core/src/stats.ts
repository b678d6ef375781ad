import type { ShedReason } from "./listener/admission.js";

/** Connections admission control closed on one listener: `refused` = new ones, `evicted` = older unauthenticated ones. */
export interface ShedCounts {
  readonly refused: Record<ShedReason, number>;
  readonly evicted: Record<ShedReason, number>;
}

/** Why a UDP datagram was dropped instead of relayed (the `reason` label of proxy_udp_dropped_total). */
export const UDP_DROP_REASONS = [
  /** To the relay port from an address (or, once known, a port) other than the association's client. */
  "foreign_source",
  /** Shorter than its header says. */
  "truncated",
  /** RSV not 0. */
  "bad_reserved",
  /** FRAG ≠ 0: no reassembly (as Dante). */
  "fragmented",
  "unknown_address_type",
  /** A destination name that fails validation (as in a TCP request). */
  "refused_name",
  /** Port 0, or 0.0.0.0/8 or :: (this host). */
  "bad_destination",
  "policy_denied",
  "dns_failed",
  /** The association already had max_in_flight datagrams waiting on a lookup or in a socket's send queue. */
  "in_flight_limit",
  /** From a destination the client never sent to. */
  "unknown_source",
] as const;
/** One of UDP_DROP_REASONS. */
export type UdpDropReason = (typeof UDP_DROP_REASONS)[number];

/** UDP ASSOCIATE counters: live (the hot path adds), read by the metrics at scrape time. */
export class UdpStats {
  associationsOpened = 0;
  activeAssociations = 0;
  datagramsClientToDest = 0;
  datagramsDestToClient = 0;
  bytesClientToDest = 0;
  bytesDestToClient = 0;
  /** Associations refused with 01 because every port of the listener's `udp.ports` was taken. */
  portsExhausted = 0;
  readonly dropped: Record<UdpDropReason, number> = Object.fromEntries(
    UDP_DROP_REASONS.map((reason) => [reason, 0]),
  ) as Record<UdpDropReason, number>;
}

/** Counters a metrics exporter reads; plain numbers so the hot path only adds. */
export class ProxyStats {
  connectionsAccepted = 0;
  /** New connections closed at accept by admission control (every reason, every listener). */
  connectionsRefused = 0;
  activeConnections = 0;
  activeTunnels = 0;
  bytesClientToDest = 0;
  bytesDestToClient = 0;
  authAllowed = 0;
  authDenied = 0;
  acceptErrors = 0;
  /** Dials that failed with EMFILE/ENFILE. */
  resourceErrors = 0;
  /** Listeners a reload removed whose tunnels still run; each is forgotten when its last session ends. */
  retiredListeners = 0;
  /** Hooks (ProxyHooks) that threw or rejected, by hook. */
  readonly hookErrors = { onAuthDecision: 0, onPolicyDenied: 0, onSessionEnd: 0 };
  /** Connections closed by admission control, by listener name. */
  readonly shed = new Map<string, ShedCounts>();
  /** Episodes at a connection limit: the fd-derived budget, or a listener's `max_connections`. */
  readonly limitsReached = { fd_reserve: 0, max_connections: 0 };
  /** Client connections all listeners without their own `max_connections` share (from the fd limit); 0 = none. */
  connectionBudget = 0;
  readonly udp = new UdpStats();

  countShed(listener: string, kind: keyof ShedCounts, reason: ShedReason): void {
    let counts = this.shed.get(listener);
    if (counts === undefined) {
      counts = { refused: emptyReasons(), evicted: emptyReasons() };
      this.shed.set(listener, counts);
    }
    counts[kind][reason]++;
    if (kind === "refused") this.connectionsRefused++;
  }
}

function emptyReasons(): Record<ShedReason, number> {
  return { max_connections: 0, fd_reserve: 0, unauthenticated_per_ip: 0 };
}
