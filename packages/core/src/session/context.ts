import type { LookupAddress } from "node:dns";
import type { SecureContext } from "node:tls";
import type { Authenticator, AuthDecision, NormalizedAuthInfo } from "../auth/contract.js";
import type { Admittable } from "../listener/admission.js";
import type { ResolvedListenerOptions } from "../listener/options.js";
import type { CompiledPolicy } from "../policy/compile.js";
import type { DenialReason } from "../policy/authorize.js";
import type { PolicyCommand } from "../policy/options.js";
import type { ConnectionLimiter } from "../policy/limits.js";
import type { Logger } from "../log.js";
import type { ProxyStats, UdpDropReason } from "../stats.js";
import type { UdpAssociationInfo } from "../udp/association.js";
import type { UdpRelayPorts } from "../udp/relay-ports.js";
import type { SpliceBackend } from "../relay/splice.js";
import type { TimerWheel } from "../util/timer-wheel.js";
import type { HandshakeFailureSummary } from "./handshake-failures.js";
import type { LiveSessions } from "./live-sessions.js";

/** What a session tells the resolver about its lookup. */
export interface HostLookupOptions {
  /** Aborted when the session ends or its connect timeout passes: stop waiting. */
  readonly signal?: AbortSignal;
  /** Whose lookup it is (`identity:NAME`, or `ip:ADDRESS` before authentication), for per-client caps. */
  readonly key?: string;
}

/** Resolves a host name to the one address the proxy will dial. */
export type HostResolver = (host: string, options?: HostLookupOptions) => Promise<LookupAddress>;

/** The record written when a session ends: who, from, to, bytes, why. */
export interface SessionRecord {
  readonly listener: string;
  readonly peer: string;
  readonly identity: string | undefined;
  readonly groups: readonly string[];
  readonly command: string | undefined;
  readonly destination: string | undefined;
  readonly destinationAddress: string | undefined;
  readonly sourceAddress: string | undefined;
  readonly bytesClientToDest: number;
  readonly bytesDestToClient: number;
  readonly durationMs: number;
  readonly reason: string;
  /** The CONNECT succeeded and the relay ran. */
  readonly tunnel: boolean;
  /** Which relay carried the tunnel: `js` (bytes through Node Buffers), `splice` (kernel to kernel), or `udp` (an association). */
  readonly relay?: "js" | "splice" | "udp" | undefined;
  /** A UDP association's own figures (its bytes are the payloads, in the fields above). */
  readonly udp?: UdpSessionRecord | undefined;
}

/** What a session_end record adds for a UDP ASSOCIATE. */
export interface UdpSessionRecord {
  /** The relay endpoint the reply named (`ip:port`). */
  readonly relay: string;
  /** The client's UDP source (`ip:port`; port 0 when it never sent). */
  readonly client: string;
  readonly datagramsClientToDest: number;
  readonly datagramsDestToClient: number;
  /** Datagrams dropped, by reason (see UDP_DROP_REASONS). */
  readonly dropped: Readonly<Partial<Record<UdpDropReason, number>>>;
}

/** One username/password decision, as reported to ProxyHooks.onAuthDecision (never with the password). */
export interface AuthEvent {
  readonly listener: string;
  readonly peer: string;
  readonly username: string | undefined;
  readonly decision: AuthDecision;
  readonly durationMs: number;
}

/** A request refused by the policy (a rule, the default, or a connection limit). */
export interface PolicyDeniedEvent {
  readonly listener: string;
  readonly peer: string;
  readonly identity: string | undefined;
  readonly command: PolicyCommand;
  /** `host:port` as requested (CONNECT, a UDP datagram) or the source address asked for (BIND). */
  readonly destination: string;
  /** The deciding rule's name or path, `default`, or the limit's name. */
  readonly rule: string;
  /** The rule's position in the listener's evaluation order; -1 for the default or a limit. */
  readonly ruleIndex: number;
  /** `source_port_not_named`: a BIND asked for a source port other than 0 that no allowing `source:` entry names. */
  readonly reason: DenialReason;
}

/** Callbacks for observers such as metrics: one per auth decision, per policy denial and per ended session. Called synchronously on the session's path, so keep them cheap; a throw or rejection is caught, logged (rate-limited) and counted in `ProxyStats.hookErrors`, never fatal. */
export interface ProxyHooks {
  onAuthDecision?(event: AuthEvent): void;
  onPolicyDenied?(event: PolicyDeniedEvent): void;
  onSessionEnd?(record: SessionRecord): void;
}

/** Everything one listener's sessions share. */
export interface ListenerContext {
  readonly options: ResolvedListenerOptions;
  /** Swapped by a reload; sessions read it when they authenticate. */
  readonly auth: { current: Authenticator };
  readonly logger: Logger;
  /** Counts the handshakes that failed before authentication (each logged at debug). */
  readonly handshakeFailures: HandshakeFailureSummary;
  readonly wheel: TimerWheel;
  readonly stats: ProxyStats;
  readonly resolveHost: HostResolver;
  /** This listener's compiled policy; undefined = no policy (everything allowed). Swapped by a reload. */
  readonly policy: { current: CompiledPolicy | undefined };
  /** Open sessions per identity and per IP, shared by every listener of the server (and by every worker). */
  readonly limits: ConnectionLimiter;
  readonly hooks: ProxyHooks;
  readonly sessions: Set<{
    destroy(reason: string): void;
    authenticatedAs(identity: string): boolean;
    udpAssociation(): UdpAssociationInfo | undefined;
  }>;
  /** The listener's UDP relay ports; undefined when UDP ASSOCIATE is off (answered 07). */
  readonly udpPorts: UdpRelayPorts | undefined;
  /** Every port of `udp.ports` is taken: counted, and logged at most once per interval. */
  readonly onUdpPortsExhausted: (range: string) => void;
  /**
   * A TLS listener behind a balancer: the TLS handshake follows the PROXY header, on the same
   * connection, with the certificate served now (`current`, replaced when it is re-read).
   * Undefined on other listeners (a plain TLS listener's server does the handshake before the session).
   */
  readonly tlsAfterProxyHeader: { current: SecureContext } | undefined;
  /** Every live session of the server (all listeners, retired ones too), for the operator's view. */
  readonly live: LiveSessions;
  /** Moves established plain-TCP tunnels kernel to kernel; undefined: the JS relay carries every tunnel. */
  readonly splice: SpliceBackend | undefined;
  /**
   * Out of file descriptors on an outbound dial. (Accepts that hit EMFILE are shed inside
   * libuv without telling Node, so dials are where exhaustion becomes visible.)
   */
  readonly onResourceExhausted: (code: string) => void;
  /** Admission control (connection limits, `max_unauthenticated_per_ip`) hears of each session's progress. */
  readonly admission: {
    /** Authenticated, or its tunnel is up: no longer counted as unauthenticated nor evictable. */
    settled(session: Admittable): void;
    /** Ended (after the stats were updated). */
    closed(session: Admittable): void;
    /**
     * Counts a settled session as unauthenticated again under the client address it has now
     * (after a PROXY header), applying `max_unauthenticated_per_ip` to it; false = refused.
     */
    readmit(session: Admittable): boolean;
  };
}

export type { NormalizedAuthInfo };
