import { createRequire } from "node:module";

/** Bytes delivered so far, each way. */
export interface RelayCounts {
  clientToDest: number;
  destToClient: number;
}

export type NativeRelayEndReason = "completed" | "client_closed" | "dest_closed";

export interface NativeRelayEnd extends RelayCounts {
  /** `completed` once both FINs passed on; otherwise the leg that reset or failed. */
  reason: NativeRelayEndReason;
  /** strerror text of the failed splice or socket error, when the reason is not `completed`. */
  error?: string;
}

export interface NativeTunnel {
  /** Live byte counts: two atomic loads, cheap at any moment. */
  counts(): RelayCounts;
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
       * `onEnd` runs once, on the JS thread, when both directions finished or a leg failed.
       * Throws only if the fds cannot be duplicated (EMFILE) or the relay thread cannot start.
       */
      start(clientFd: number, destFd: number, onEnd: (end: NativeRelayEnd) => void): NativeTunnel;
    }
  | { available: false; reason: string };

interface Addon {
  start(clientFd: number, destFd: number, onEnd: (end: NativeRelayEnd) => void): NativeTunnel;
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

const loaded = load();

export const nativeRelay: NativeRelay =
  "addon" in loaded
    ? { available: true, start: (clientFd, destFd, onEnd) => loaded.addon.start(clientFd, destFd, onEnd) }
    : { available: false, reason: loaded.reason };

/**
 * Raises glibc's M_TRIM_THRESHOLD to 256 MiB, so the heap is not trimmed and re-faulted on every
 * burst of relayed Buffers (measured on the JS relay: ~200 minor page faults per MB relayed
 * without it, ~2 with it). True if applied; false without the addon or off glibc.
 */
export function tuneAllocator(): boolean {
  return "addon" in loaded ? loaded.addon.tuneAllocator() : false;
}
