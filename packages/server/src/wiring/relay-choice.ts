import { GatehouseError } from "@gatehouse-proxy/core";
import type { SpliceBackend } from "@gatehouse-proxy/core/engine";

/** The `relay` config key: `splice` requires the addon, `js` never uses it, `auto` uses it when it loads. */
export type RelayMode = "auto" | "splice" | "js";

/** Which relay established tunnels get (TLS listeners always use the JS relay). */
export type RelayChoice =
  { readonly relay: "splice"; readonly backend: SpliceBackend } | { readonly relay: "js"; readonly reason: string };

type RelayAddon = typeof import("@gatehouse-proxy/relay-native");

let addon: Promise<RelayAddon | undefined> | undefined;

/** The optional @gatehouse-proxy/relay-native, loaded once; undefined when it is not installed. */
export function loadRelayAddon(): Promise<RelayAddon | undefined> {
  addon ??= import("@gatehouse-proxy/relay-native").catch((error: unknown) => {
    // Not installed (an optional dependency) is expected; anything else is a broken install.
    if ((error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") return undefined;
    throw error;
  });
  return addon;
}

/**
 * Picks the relay for `mode`: the splice addon when asked for or (auto) when it is installed and
 * built, otherwise the JS relay with the reason. `relay: splice` without a usable addon is a
 * startup error, never a silent fallback.
 */
export async function chooseRelay(mode: RelayMode): Promise<RelayChoice> {
  if (mode === "js") return { relay: "js", reason: "relay: js in the config (or --no-splice)" };
  const loaded = await loadRelayAddon();
  const native = loaded?.nativeRelay;
  if (native?.available === true) return { relay: "splice", backend: native };
  const reason =
    native === undefined ? "@gatehouse-proxy/relay-native is not installed" : `the splice addon: ${native.reason}`;
  if (mode === "splice") {
    throw new GatehouseError("GH_RELAY_UNAVAILABLE", `relay: splice was asked for, but ${reason}`);
  }
  return { relay: "js", reason };
}

/** One line for `gatehouse --version` and the startup log. */
export function describeRelay(choice: RelayChoice): string {
  return choice.relay === "splice"
    ? "splice (kernel to kernel, @gatehouse-proxy/relay-native)"
    : `js (${choice.reason})`;
}
