import { describeFailure } from "@gatehouse-proxy/observability";
import type { ProviderHealthReport } from "@gatehouse-proxy/observability";
import type { ProviderInstance } from "../wiring/create-providers.js";

/** How long one provider's health() may take before it counts as failing. */
export const HEALTH_TIMEOUT_MS = 2000;
/** How long a health answer is reused: the status page polls, the backends should not feel it. */
export const HEALTH_REUSE_MS = 5000;

/** One provider's health(): undefined when healthy (or it has none), else why not (secrets masked). */
export async function providerHealthProblem(
  instance: ProviderInstance,
  signal: AbortSignal,
): Promise<string | undefined> {
  try {
    await instance.provider.health?.(signal);
    return undefined;
  } catch (error) {
    return describeFailure(error);
  }
}

/**
 * Every provider's health for `GET /api/providers`: asked at most once per HEALTH_REUSE_MS for
 * the same provider set, concurrent callers sharing one round of calls.
 */
export class ProviderHealthCheck {
  private last:
    { instances: readonly ProviderInstance[]; at: number; answer: Promise<ProviderHealthReport[]> } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  check(instances: readonly ProviderInstance[]): Promise<ProviderHealthReport[]> {
    const last = this.last;
    if (last !== undefined && last.instances === instances && this.now() - last.at < HEALTH_REUSE_MS)
      return last.answer;
    const answer = Promise.all(
      instances.map(async (instance) => {
        const problem = await providerHealthProblem(instance, AbortSignal.timeout(HEALTH_TIMEOUT_MS));
        return {
          name: instance.instanceName,
          health: problem === undefined ? ("ok" as const) : ("failing" as const),
          message: problem ?? null,
        };
      }),
    );
    this.last = { instances, at: this.now(), answer };
    return answer;
  }
}
