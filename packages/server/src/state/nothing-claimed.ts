import type { ThrottleAdmission } from "@gatehouse-proxy/core/engine";

/**
 * An admission that claimed nothing (the username is not blocked, or the address is familiar):
 * the usual case. The `workers` host answers it with claim 0, so no `unclaim` note follows.
 */
export const NOTHING_CLAIMED: ThrottleAdmission = Object.freeze({ release: (): void => undefined });
