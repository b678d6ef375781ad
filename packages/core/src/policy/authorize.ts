import type { NormalizedAuthInfo } from "../auth/contract.js";
import type { CompiledPolicy } from "./compile.js";
import {
  decisionLabel,
  evaluatePolicy,
  evaluatePolicyBeforeLookup,
  evaluatePolicyForAnyDestination,
} from "./evaluate.js";
import type { PolicyDecision, PolicyRequest } from "./evaluate.js";
import { parseIp } from "./ip.js";
import type { LimitExceeded } from "./limits.js";
import type { PolicyCommand } from "./options.js";
import { sourcePortNamed } from "./source.js";

/** The rule (and reason) of a BIND refused for asking a source port no allowing rule names. */
const SOURCE_PORT_NOT_NAMED = "source_port_not_named";

/** Why a request was refused: a rule, the default, a connection limit, or an unnamed source port. */
export type DenialReason = "rule" | "default" | LimitExceeded | typeof SOURCE_PORT_NOT_NAMED;

/** A refused request: what to log and report. */
export interface PolicyDenial {
  readonly allowed: false;
  /** The deciding rule's name or path, `default`, or the limit's name. */
  readonly rule: string;
  /** The rule's position in the listener's evaluation order; -1 for the default or a limit. */
  readonly ruleIndex: number;
  readonly reason: DenialReason;
}

/** The connection limits a request counts against (0 = no limit). */
export interface LimitsToHold {
  readonly maxPerIdentity: number;
  readonly maxPerIp: number;
}

/** A request let through, with the limits it must hold a slot under (none without a policy). */
export interface PolicyGrant {
  readonly allowed: true;
  readonly limits: LimitsToHold | undefined;
}

/** Who asks: the session's login (undefined for the no-auth method) and the client's address. */
export interface Requester {
  readonly auth: NormalizedAuthInfo | undefined;
  /** As the socket reports it; undefined when unknown. */
  readonly clientAddress: string | undefined;
  /** The key the connection limits count the client under (IPv4 unmapped, `unknown` when unknown). */
  readonly clientIp: string;
}

/** What is asked for, after the request was parsed (and a host name resolved). */
export interface AccessRequest {
  readonly command: PolicyCommand;
  /** The requested host name; undefined for an IP address. */
  readonly host: string | undefined;
  readonly address: string | undefined;
  readonly port: number;
  /** BIND: the address asked for; CONNECT: the source address bound earlier, if any. */
  readonly source: string | undefined;
  /** BIND: the port asked for; CONNECT: the one bound earlier (0: the system picks). */
  readonly sourcePort: number;
}

const GRANTED: PolicyGrant = { allowed: true, limits: undefined };

/**
 * Before a host name's lookup: a denial when the name alone settles it against the request
 * (a name the policy denies is never looked up); undefined when it may go on.
 */
export function authorizeName(
  policy: CompiledPolicy | undefined,
  who: Requester,
  request: AccessRequest,
): PolicyDenial | undefined {
  if (policy === undefined) return undefined;
  const decision = evaluatePolicyBeforeLookup(policy, policyRequest(who, request));
  if (decision === undefined || decision.allowed) return undefined;
  return denialBy(decision);
}

/**
 * The listener's policy for an (authenticated) request: the rules, then a chosen source port
 * (a privilege only a rule naming it grants); a grant says which connection limits the session
 * must then hold a slot under. No policy allows everything but a chosen BIND source port.
 */
export function authorize(
  policy: CompiledPolicy | undefined,
  who: Requester,
  request: AccessRequest,
): PolicyGrant | PolicyDenial {
  const { command, source, sourcePort } = request;
  const portToName = command === "bind" && sourcePort !== 0 && source !== undefined ? parseIp(source) : undefined;
  if (policy === undefined) {
    return portToName === undefined ? GRANTED : denial(SOURCE_PORT_NOT_NAMED, -1, SOURCE_PORT_NOT_NAMED);
  }
  const decision = evaluatePolicy(policy, policyRequest(who, request));
  if (!decision.allowed) return denialBy(decision);
  if (portToName !== undefined && !sourcePortNamed(decision.rule?.source, portToName, sourcePort)) {
    return denial(SOURCE_PORT_NOT_NAMED, decision.index, SOURCE_PORT_NOT_NAMED);
  }
  return { allowed: true, limits: policy };
}

/**
 * A UDP ASSOCIATE itself: refused when no datagram could be allowed (see
 * evaluatePolicyForAnyDestination); a grant names the connection limits the association holds
 * a slot under, as a tunnel does. Every datagram is then checked with `authorize`.
 */
export function authorizeAssociation(policy: CompiledPolicy | undefined, who: Requester): PolicyGrant | PolicyDenial {
  if (policy === undefined) return GRANTED;
  const request: AccessRequest = {
    command: "udp",
    host: undefined,
    address: undefined,
    port: 0,
    source: undefined,
    sourcePort: 0,
  };
  const decision = evaluatePolicyForAnyDestination(policy, policyRequest(who, request));
  return decision.allowed ? { allowed: true, limits: policy } : denialBy(decision);
}

/** The denial for a full connection limit. */
export function limitDenial(limit: LimitExceeded): PolicyDenial {
  return denial(limit, -1, limit);
}

function policyRequest(who: Requester, request: AccessRequest): PolicyRequest {
  const { auth, clientAddress } = who;
  return {
    identities: auth === undefined ? [] : auth.identities.map((entry) => entry.identity),
    groups: auth?.groups ?? [],
    authenticated: auth !== undefined,
    client: clientAddress === undefined ? undefined : parseIp(clientAddress),
    command: request.command,
    host: request.host,
    address: request.address === undefined ? undefined : parseIp(request.address),
    port: request.port,
    source: request.source === undefined ? undefined : parseIp(request.source),
    sourcePort: request.sourcePort,
  };
}

function denialBy(decision: PolicyDecision): PolicyDenial {
  return denial(decisionLabel(decision), decision.index, decision.rule ? "rule" : "default");
}

function denial(rule: string, ruleIndex: number, reason: DenialReason): PolicyDenial {
  return { allowed: false, rule, ruleIndex, reason };
}
