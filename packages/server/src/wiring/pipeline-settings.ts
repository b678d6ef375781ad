import type { AuthChainEntry, AuthPipelineSettings, ListenerOptions } from "@gatehouse-proxy/core/engine";
import { compact } from "../config/compact.js";
import type { AuthConfig, ListenerConfig } from "../config/schema.js";
import type { ProviderInstance } from "./create-providers.js";

/** The pipeline's settings (timeout, cache, throttle) as createProxyServer takes them. */
export function pipelineSettings(auth: AuthConfig | undefined): AuthPipelineSettings {
  if (auth === undefined) return {};
  const { timeout, cache, throttle } = auth;
  return compact({
    timeout,
    cache: cache === undefined || cache === false ? cache : compact(cache),
    throttle: throttle === undefined || throttle === false ? throttle : compact(throttle),
  });
}

export function chainEntries(instances: readonly ProviderInstance[]): AuthChainEntry[] {
  return instances.map((instance) => ({ provider: instance.provider, onError: instance.onError }));
}

export function listenerOptions(listeners: readonly ListenerConfig[]): ListenerOptions[] {
  return listeners.map((listener) => compact(listener));
}
