import type { AddressInfo } from "node:net";
import type { ConfigSource } from "../config/load.js";
import type { Message } from "./rpc.js";

// What the primary and its workers say to each other, besides the shared state's messages
// (shared-state.ts). Worker → primary: `config` (request: the text to run), `started` (note).
// Primary → worker: `metrics`, `ready`, `reload`, `shutdown`, `revoke` (requests).

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
