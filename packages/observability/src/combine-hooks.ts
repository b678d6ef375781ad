import type { AuthEvent, PolicyDeniedEvent, ProxyHooks, SessionRecord } from "@gatehouse-proxy/core/engine";

/** One ProxyHooks that calls each given hooks object in order (the engine takes one). */
export function combineHooks(...all: readonly ProxyHooks[]): ProxyHooks {
  return {
    onAuthDecision(event: AuthEvent): void {
      for (const hooks of all) hooks.onAuthDecision?.(event);
    },
    onPolicyDenied(event: PolicyDeniedEvent): void {
      for (const hooks of all) hooks.onPolicyDenied?.(event);
    },
    onSessionEnd(record: SessionRecord): void {
      for (const hooks of all) hooks.onSessionEnd?.(record);
    },
  };
}
