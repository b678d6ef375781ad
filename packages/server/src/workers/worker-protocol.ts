import type { AddressInfo } from "node:net";
import type { SessionQuery, SessionSelector } from "@gatehouse-proxy/core/engine";
import type { ConfigSource } from "../config/load.js";
import type { Message } from "./rpc.js";

// What the primary and its workers say to each other, besides the shared state's messages
// (shared-state.ts). Worker → primary: `config` (request: the text to run), `started` (note).
// Primary → worker: `metrics`, `ready`, `reload`, `shutdown`, `revoke`, and for the operator's
// view `sessions`, `close_sessions`, `auth_recent`, `provider_reports` (requests).

/** The environment variable that gives a worker its number, 1..N (a replacement keeps it). */
export const WORKER_ID_ENV = "GATEHOUSE_WORKER";

export interface StartedNote extends Message {
  readonly type: "started";
  readonly listeners: readonly AddressInfo[];
}

export interface ReloadRequest extends Message {
  readonly type: "reload";
  readonly source: ConfigSource;
}

export interface ShutdownRequest extends Message {
  readonly type: "shutdown";
  readonly drainMs: number;
}

/** A revocation the primary heard (Redis channel or its admin listener): the worker ends the identity's tunnels. */
export interface RevokeRequest extends Message {
  readonly type: "revoke";
  readonly identity: string;
}

/** One page of the worker's live sessions (answered with a ProcessSessionPage, ids tagged with the worker). */
export interface SessionsRequest extends Message {
  readonly type: "sessions";
  readonly query: SessionQuery;
}

/** Ends the selected sessions of the worker (answered with how many). */
export interface CloseSessionsRequest extends Message {
  readonly type: "close_sessions";
  readonly selector: SessionSelector;
}

/** The worker's last auth decisions, newest first (answered with AuthDecisionRow[]). */
export interface AuthRecentRequest extends Message {
  readonly type: "auth_recent";
  readonly limit: number;
}

/** What the worker knows of each provider (answered with ProviderReport[]). */
export interface ProviderReportsRequest extends Message {
  readonly type: "provider_reports";
}
