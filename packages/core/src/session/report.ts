import type { AuthDecision, NormalizedAuthInfo } from "../auth/contract.js";
import { classifyAuthDecision } from "../auth/outcome.js";
import type { PolicyDenial } from "../policy/authorize.js";
import type { PolicyCommand } from "../policy/options.js";
import type { ListenerContext, SessionRecord } from "./context.js";

/**
 * What a session tells its observers (log lines and ProxyHooks events): each auth decision,
 * each refusal, and one record when it ends. Passwords never reach this module.
 */

/** The session as its reports describe it. */
export interface ReportedSession {
  readonly peer: string;
  readonly auth: NormalizedAuthInfo | undefined;
}

export function reportAuthDecision(
  ctx: ListenerContext,
  peer: string,
  username: string | undefined,
  decision: AuthDecision,
  durationMs: number,
): void {
  const { stats, logger, hooks, options } = ctx;
  if (decision.allowed) stats.authAllowed++;
  else stats.authDenied++;
  hooks.onAuthDecision?.({ listener: options.name, peer, username, decision, durationMs });
  const { outcome, reason } = classifyAuthDecision(decision);
  const fields = {
    event: "auth",
    outcome,
    reason,
    provider: decision.provider,
    username,
    identities: decision.allowed ? decision.info.identities.map((entry) => entry.identity) : [],
    groups: decision.allowed ? decision.info.groups : [],
    peer_address: peer,
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

export function reportPolicyDenied(
  ctx: ListenerContext,
  session: ReportedSession,
  command: PolicyCommand,
  /** `host:port` as requested (CONNECT) or the source address asked for (BIND). */
  destination: string,
  /** CONNECT: the source address bound earlier, if any. */
  sourceAddress: string | undefined,
  denial: PolicyDenial,
): void {
  const { hooks, logger, options } = ctx;
  const { rule, ruleIndex, reason } = denial;
  const identity = session.auth?.identities[0]?.identity;
  hooks.onPolicyDenied?.({
    listener: options.name,
    peer: session.peer,
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
      groups: session.auth?.groups ?? [],
      peer_address: session.peer,
      command,
      destination,
      ...(command === "connect" && sourceAddress !== undefined && { source_address: sourceAddress }),
    },
    "request denied by policy",
  );
}

export function reportNameRefused(
  ctx: ListenerContext,
  session: ReportedSession,
  reason: string,
  command: string | undefined,
  destination: string,
): void {
  ctx.logger.info(
    {
      event: "name_refused",
      reason,
      peer_address: session.peer,
      identity: session.auth?.identities[0]?.identity,
      command,
      destination,
    },
    "destination name refused",
  );
}

/**
 * The `session_end` record: to the onSessionEnd hook, and as one log line — at info, except
 * for evictions and for anonymous failures (nobody authenticated, no request made), which go
 * to debug: one line each would let an anonymous client write the log as fast as it can
 * connect. Evictions are logged as counts (connection_limit_reached, unauthenticated_limit);
 * anonymous failures (refused PROXY headers among them) are counted in the handshake_failures
 * summary; a balancer's health check (PROXY v2 LOCAL, then close) is no failure at all.
 */
export function reportSessionEnd(ctx: ListenerContext, record: SessionRecord, anonymousFailure: boolean): void {
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
    relay: record.relay,
    ...(record.udp !== undefined && {
      udp_relay: record.udp.relay,
      udp_client: record.udp.client,
      datagrams_client_to_dest: record.udp.datagramsClientToDest,
      datagrams_dest_to_client: record.udp.datagramsDestToClient,
      datagrams_dropped: record.udp.dropped,
    }),
  };
  // Shed by admission control (logged as counts) or a balancer's health check: neither is a failure.
  const quiet = /^(?:evicted|refused):/.test(record.reason) || record.reason === "health_check";
  if (anonymousFailure && !quiet) ctx.handshakeFailures.record(record.reason);
  ctx.logger[quiet || anonymousFailure ? "debug" : "info"](fields, "session end");
}
