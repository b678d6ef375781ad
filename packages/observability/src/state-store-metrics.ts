import { Counter } from "prom-client";
import type { Registry } from "prom-client";

/**
 * `proxy_state_store_errors_total{action}`: calls to the shared state store (Redis) that failed,
 * by what they led to — `denied` (on_store_error: deny), `local` (allow: this instance's own
 * state answered) or `none` (background work: lease renewal, an outcome record, the revocation
 * subscription). Returns the function that counts one.
 */
export function stateStoreErrorCounter(registry: Registry): (action: "denied" | "local" | "none") => void {
  const counter = new Counter({
    name: "proxy_state_store_errors_total",
    help: "Calls to the shared state store (Redis) that failed, by what they led to (denied, local or none)",
    labelNames: ["action"],
    registers: [registry],
  });
  counter.inc({ action: "denied" }, 0);
  counter.inc({ action: "local" }, 0);
  counter.inc({ action: "none" }, 0);
  return (action) => counter.inc({ action });
}
