/** Counters a metrics exporter reads; plain numbers so the hot path only adds. */
export class ProxyStats {
  connectionsAccepted = 0;
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
}
