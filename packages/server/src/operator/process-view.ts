import type { ProxyServer, SessionQuery, SessionSelector } from "@gatehouse-proxy/core/engine";
import { sessionRow } from "@gatehouse-proxy/observability";
import type { AuthActivity, AuthDecisionRow, ProviderReport, SessionRow } from "@gatehouse-proxy/observability";
import type { ProviderInstance } from "../wiring/create-providers.js";
import type { ProviderHealthCheck } from "./provider-health.js";

/** One page of one process's sessions, as rows. */
export interface ProcessSessionPage {
  readonly sessions: SessionRow[];
  readonly total: number;
  readonly more: boolean;
}

/**
 * What one process running the engine answers for the operator's view: its sessions as rows
 * (ids tagged with its worker number under `workers`), closes, recent auth decisions and its
 * providers' reports. The single-process admin API and a worker's IPC answers both use it.
 */
export class ProcessView {
  constructor(
    private readonly server: ProxyServer,
    private readonly activity: AuthActivity,
    private readonly health: ProviderHealthCheck,
    /** The provider instances now (a reload replaces them). */
    private readonly instances: () => readonly ProviderInstance[],
    /** Whether the pipeline caches decisions at all now. */
    private readonly cacheEnabled: () => boolean,
    private readonly worker?: number,
  ) {}

  listSessions(query: SessionQuery): ProcessSessionPage {
    const page = this.server.listSessions(query);
    return {
      sessions: page.sessions.map((session) => sessionRow(session, this.worker)),
      total: page.total,
      more: page.more,
    };
  }

  closeSessions(selector: SessionSelector): number {
    return this.server.closeSessions(selector);
  }

  recentAuth(limit: number): AuthDecisionRow[] {
    return this.activity.recent(limit);
  }

  async providerReports(): Promise<ProviderReport[]> {
    const instances = this.instances();
    const health = await this.health.check(instances);
    const cacheEnabled = this.cacheEnabled();
    return instances.map((instance, index) => ({
      ...health[index]!,
      activity: { ...this.activity.provider(instance.provider.name), name: instance.instanceName },
      cached: cacheEnabled && instance.provider.reusable !== false,
    }));
  }
}
