import { AggregatorRegistry, Counter, Gauge, Registry } from "prom-client";
import type { MetricObjectWithValues, MetricValue, PrometheusContentType } from "prom-client";

/** One worker's metrics as `registry.getMetricsAsJSON()` gives them. */
export interface WorkerMetrics {
  readonly worker: number;
  readonly metrics: readonly MetricObjectWithValues<MetricValue<string>>[];
}

/** Per-worker series worth a `worker` label: how evenly connections are spread. */
const PER_WORKER = {
  proxy_connections_accepted_total: {
    name: "proxy_worker_connections_accepted_total",
    help: "Client connections accepted, by worker (how evenly connections are spread)",
  },
  proxy_active_connections: {
    name: "proxy_worker_active_connections",
    help: "Client connections open, by worker",
  },
} as const;

/**
 * The `workers` primary's metrics: every worker's series summed into one (prom-client's cluster
 * aggregator: counters and histograms add up, gauges add up), plus the primary's own —
 * `proxy_workers` (running), `proxy_worker_restarts_total` — and, by `worker`, connections
 * accepted and open. A worker that is restarting is missing from the sums until it is back.
 */
export class ClusterMetrics {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly own = new Registry();
  private readonly running = new Gauge({
    name: "proxy_workers",
    help: "Worker processes running and serving",
    registers: [this.own],
  });
  private readonly restarts = new Counter({
    name: "proxy_worker_restarts_total",
    help: "Worker processes started again after one exited",
    registers: [this.own],
  });

  constructor(private readonly collect: () => Promise<WorkerMetrics[]>) {}

  /** The primary's own series (add more to it, e.g. the state store's errors). */
  get primaryRegistry(): Registry {
    return this.own;
  }

  workerRestarted(): void {
    this.restarts.inc();
  }

  async metrics(): Promise<string> {
    const workers = await this.collect();
    this.running.set(workers.length);
    const aggregated = AggregatorRegistry.aggregate<PrometheusContentType>(workers.map(({ metrics }) => [...metrics]));
    return Registry.merge([aggregated, this.own, perWorker(workers)]).metrics();
  }
}

function perWorker(workers: readonly WorkerMetrics[]): Registry {
  const registry = new Registry();
  for (const [source, { name, help }] of Object.entries(PER_WORKER)) {
    const gauge = new Gauge({ name, help, labelNames: ["worker"], registers: [registry] });
    for (const { worker, metrics } of workers) {
      const metric = metrics.find((candidate) => candidate.name === source);
      const total = metric?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
      gauge.set({ worker: String(worker) }, total);
    }
  }
  return registry;
}
