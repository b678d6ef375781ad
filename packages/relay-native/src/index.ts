import { createRequire } from "node:module";
import { getSystemErrorName } from "node:util";

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
  /** Its errno name (`ECONNRESET`), when the reason is not `completed`. */
  code?: string;
}

/** Whose FIN was read: the client's (passed on to the destination) or the destination's. */
export type NativeRelaySide = "client" | "dest";

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
       * `onEnd` runs once, on the JS thread, when both directions finished or a leg failed;
       * `onFin`, when given, each time a side's FIN is read (before the FIN is passed on, which
       * happens once the bytes before it are delivered). Both are held until the end: let them
       * not close over the destroyed sockets (they would stay alive with them, ~1.6 KiB per
       * tunnel). Throws only if the fds cannot be duplicated (an error whose `code` is EMFILE or
       * ENFILE) or the relay thread cannot start.
       */
      start(
        clientFd: number,
        destFd: number,
        onEnd: (end: NativeRelayEnd) => void,
        onFin?: (side: NativeRelaySide) => void,
      ): NativeTunnel;
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
  reason: NativeRelayEndReason | "client_fin" | "dest_fin",
  clientToDest: number,
  destToClient: number,
  error: string | undefined,
  errnum: number,
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
interface Listeners {
  readonly onEnd: (end: NativeRelayEnd) => void;
  readonly onFin: ((side: NativeRelaySide) => void) | undefined;
}
const endListeners = new Map<number, Listeners>();

const deliverEnd: EndListener = (id, reason, clientToDest, destToClient, error, errnum) => {
  const listeners = endListeners.get(id);
  if (listeners === undefined) return;
  if (reason === "client_fin" || reason === "dest_fin") {
    listeners.onFin?.(reason === "client_fin" ? "client" : "dest");
    return;
  }
  endListeners.delete(id);
  const end: NativeRelayEnd = { reason, clientToDest, destToClient };
  if (error !== undefined) end.error = error;
  if (errnum > 0) end.code = getSystemErrorName(-errnum);
  listeners.onEnd(end);
};

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

function start(addon: Addon, clientFd: number, destFd: number, listeners: Listeners): NativeTunnel {
  let native: AddonTunnel;
  try {
    native = addon.start(clientFd, destFd);
  } catch (error) {
    const errnum = (error as { errno?: unknown }).errno;
    if (typeof errnum === "number" && errnum > 0) (error as NodeJS.ErrnoException).code = getSystemErrorName(-errnum);
    throw error;
  }
  const id = native.id();
  // Reports arrive on this thread, never before this function has returned.
  endListeners.set(id, listeners);
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
    ? {
        available: true,
        start: (clientFd, destFd, onEnd, onFin) => start(loaded.addon, clientFd, destFd, { onEnd, onFin }),
      }
    : { available: false, reason: loaded.reason };

/**
 * Raises glibc's M_TRIM_THRESHOLD to 256 MiB, so the heap is not trimmed and re-faulted on every
 * burst of relayed Buffers (measured on the JS relay: ~200 minor page faults per MB relayed
 * without it, ~2 with it). True if applied; false without the addon or off glibc.
 */
export function tuneAllocator(): boolean {
  return "addon" in loaded ? loaded.addon.tuneAllocator() : false;
}
