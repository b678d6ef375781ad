import { createRequire } from "node:module";

/** Bytes delivered so far, each way. */
export interface RelayCounts {
  clientToDest: number;
  destToClient: number;
}

/**
 * Live state of a tunnel: the byte counts, and which peers' FINs have arrived. Exactly one of
 * `clientEnded` / `destEnded` true means the tunnel is half-closed (the other way still flows).
 */
export interface NativeTunnelState extends RelayCounts {
  /** The client's FIN was received (EOF read from the client's socket). */
  clientEnded: boolean;
  /** The destination's FIN was received (EOF read from the destination's socket). */
  destEnded: boolean;
}

export type NativeRelayEndReason = "completed" | "client_closed" | "dest_closed";

export interface NativeRelayEnd extends RelayCounts {
  /** `completed` once both FINs passed on; otherwise the leg that reset or failed. */
  reason: NativeRelayEndReason;
  /** strerror text of the failed splice or socket error, when the reason is not `completed`. */
  error?: string;
}

export interface NativeTunnel {
  /** Live byte counts and FIN state: four atomic loads, cheap at any moment. */
  counts(): NativeTunnelState;
  /**
   * Stops relaying and closes the addon's fds; returns once they are closed, so the counts are
   * final. Idempotent. `onEnd` is not called for a tunnel closed this way, unless the tunnel
   * had already ended on its own (its report is then on its way).
   */
  close(): void;
}

export type NativeRelay =
  | {
      available: true;
      /**
       * Relays an established tunnel kernel to kernel. The addon dup()s both fds before this
       * returns and owns the duplicates; the caller pauses both sockets before and may destroy
       * them right after (their fds close, the connections stay open through the duplicates).
       * `onEnd` runs once, on the JS thread, when both directions finished or a leg failed. It
       * is held until then: let it not close over the destroyed sockets (they would stay alive
       * with it, ~1.6 KiB per tunnel). Throws only if the fds cannot be duplicated (EMFILE) or
       * the relay thread cannot start.
       */
      start(clientFd: number, destFd: number, onEnd: (end: NativeRelayEnd) => void): NativeTunnel;
    }
  | { available: false; reason: string };

/** The addon's own tunnel object; `close()` is true if it stopped the tunnel (no report follows). */
interface AddonTunnel {
  id(): number;
  counts(): NativeTunnelState;
  close(): boolean;
}

type EndListener = (
  id: number,
  reason: NativeRelayEndReason,
  clientToDest: number,
  destToClient: number,
  error: string | undefined,
) => void;

interface Addon {
  /** The one listener every end report of this thread goes to; once, before any start(). */
  onEnd(listener: EndListener): void;
  start(clientFd: number, destFd: number): AddonTunnel;
  tuneAllocator(): boolean;
}

function load(): { addon: Addon } | { reason: string } {
  if (process.platform !== "linux") return { reason: `splice(2) is Linux only, this is ${process.platform}` };
  try {
    const require = createRequire(import.meta.url);
    return { addon: require("../build/Release/splice_relay.node") as Addon };
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return { reason: `the addon is not built (npm rebuild @gatehouse-proxy/relay-native): ${message ?? ""}` };
  }
}

/**
 * Each running tunnel's `onEnd`, by the addon's tunnel id: the addon reports every end through
 * one threadsafe function with the id (one per tunnel cost ~1.1 KiB of native memory each).
 */
const endListeners = new Map<number, (end: NativeRelayEnd) => void>();

function deliverEnd(
  id: number,
  reason: NativeRelayEndReason,
  clientToDest: number,
  destToClient: number,
  error: string | undefined,
): void {
  const onEnd = endListeners.get(id);
  if (onEnd === undefined) return;
  endListeners.delete(id);
  onEnd(error === undefined ? { reason, clientToDest, destToClient } : { reason, clientToDest, destToClient, error });
}

class Tunnel implements NativeTunnel {
  constructor(
    private readonly native: AddonTunnel,
    private readonly id: number,
  ) {}

  counts(): NativeTunnelState {
    return this.native.counts();
  }

  close(): void {
    if (this.native.close()) endListeners.delete(this.id);
  }
}

function start(addon: Addon, clientFd: number, destFd: number, onEnd: (end: NativeRelayEnd) => void): NativeTunnel {
  const native = addon.start(clientFd, destFd);
  const id = native.id();
  // Reports arrive on this thread, never before this function has returned.
  endListeners.set(id, onEnd);
  return new Tunnel(native, id);
}

/** The addon, with its end reports routed to `deliverEnd`; never throws. */
function loadAndListen(): { addon: Addon } | { reason: string } {
  const loaded = load();
  if (!("addon" in loaded)) return loaded;
  try {
    loaded.addon.onEnd(deliverEnd);
    return loaded;
  } catch (error) {
    // A second instance of this module in the same thread: the first one takes the reports.
    return { reason: `the addon's end reports are taken: ${error instanceof Error ? error.message : String(error)}` };
  }
}

const loaded = loadAndListen();

export const nativeRelay: NativeRelay =
  "addon" in loaded
    ? { available: true, start: (clientFd, destFd, onEnd) => start(loaded.addon, clientFd, destFd, onEnd) }
    : { available: false, reason: loaded.reason };

/**
 * Raises glibc's M_TRIM_THRESHOLD to 256 MiB, so the heap is not trimmed and re-faulted on every
 * burst of relayed Buffers (measured on the JS relay: ~200 minor page faults per MB relayed
 * without it, ~2 with it). True if applied; false without the addon or off glibc.
 */
export function tuneAllocator(): boolean {
  return "addon" in loaded ? loaded.addon.tuneAllocator() : false;
}
