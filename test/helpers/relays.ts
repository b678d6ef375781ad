import { nativeRelay } from "@gatehouse-proxy/relay-native";
import type { SpliceBackend } from "@gatehouse-proxy/core/engine";

/** The relays the engine can run a tunnel on; tests that cover the data path run against each. */
export type RelayKind = "js" | "splice";
export const RELAYS: readonly RelayKind[] = ["js", "splice"];

/**
 * The engine option for `kind`. The splice addon must be built wherever the tests run (CI
 * installs g++, make and python3): a missing addon fails the splice tests rather than letting
 * them pass on the JS relay.
 */
export function spliceBackendFor(kind: RelayKind): SpliceBackend | undefined {
  return kind === "js" ? undefined : spliceBackend();
}

/** The splice addon's backend; throws (with the reason) when it is not built. */
export function spliceBackend(): SpliceBackend {
  if (!nativeRelay.available) throw new Error(`the splice relay is not available: ${nativeRelay.reason}`);
  return nativeRelay;
}
