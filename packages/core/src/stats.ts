import type { ShedReason } from "./listener/admission.js";

/** Connections admission control closed on one listener: `refused` = new ones, `evicted` = older unauthenticated ones. */
export interface ShedCounts {
  readonly refused: Record<ShedReason, number>;
  readonly evicted: Record<ShedReason, number>;
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
