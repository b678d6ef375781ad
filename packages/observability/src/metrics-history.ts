/** One sample of a Prometheus text exposition: its labels and value. */
export interface CounterSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL_PAIR = /([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of metric `name` in Prometheus text (label values unescaped). */
export function samplesOf(text: string, name: string): CounterSample[] {
  const samples: CounterSample[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match?.[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(LABEL_PAIR)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, char: string) => (char === "n" ? "\n" : char));
    }
    samples.push({ labels, value: Number(match[3]) });
  }
  return samples;
}

/** Auth decisions counted per provider and outcome (`allow`, `deny`, `error`). */
type Totals = Map<string, number>;

interface Snapshot {
  readonly time: number;
  readonly totals: Totals;
}

/** GET /api/auth/series: decisions per provider and outcome in each step of the window. */
export interface AuthSeries {
  readonly window_seconds: number;
  readonly step_seconds: number;
  /** The end of each step (ISO 8601); the last is now, its step still filling. */
  readonly times: string[];
  readonly series: { provider: string; outcome: string; counts: number[] }[];
}

const KEY_SEPARATOR = "\u0000";

function authTotals(text: string): Totals {
  const totals: Totals = new Map();
  for (const { labels, value } of samplesOf(text, "proxy_auth_total")) {
    const key = `${labels.provider ?? ""}${KEY_SEPARATOR}${labels.outcome ?? ""}`;
    totals.set(key, (totals.get(key) ?? 0) + value);
  }
  return totals;
}

/**
 * Auth decisions over the last minutes, for the status page's chart, read from the metrics the
 * admin listener already serves (so it works the same for one process and for the `workers`
 * primary's sums): a snapshot of `proxy_auth_total` by provider and outcome every step, kept for
 * the window; the series are the differences between consecutive snapshots. Counters start at 0
 * with the process, so the history starts with an empty snapshot.
 */
export class AuthHistory {
  private readonly snapshots: Snapshot[];

  constructor(
    startedAt: number,
    readonly stepMs = 10_000,
    readonly windowMs = 15 * 60_000,
  ) {
    this.snapshots = [{ time: startedAt, totals: new Map() }];
  }

  /** Records the totals in `metricsText` as of `now` and forgets snapshots older than the window. */
  record(now: number, metricsText: string): void {
    this.snapshots.push({ time: now, totals: authTotals(metricsText) });
    const oldest = now - this.windowMs;
    // Keep one snapshot at or before the window's start: the base of the first step.
    while (this.snapshots.length > 2 && this.snapshots[1]!.time <= oldest) this.snapshots.shift();
  }

  /** The series up to `now`, whose totals are in `metricsText` (the last, partly filled step). */
  series(now: number, metricsText: string): AuthSeries {
    const points = [...this.snapshots, { time: now, totals: authTotals(metricsText) }];
    const keys = [...new Set(points.flatMap(({ totals }) => [...totals.keys()]))].sort();
    const steps = points.slice(1);
    return {
      window_seconds: this.windowMs / 1000,
      step_seconds: this.stepMs / 1000,
      times: steps.map(({ time }) => new Date(time).toISOString()),
      series: keys.map((key) => {
        const [provider = "", outcome = ""] = key.split(KEY_SEPARATOR);
        const counts = steps.map(({ totals }, index) => {
          const before = points[index]!.totals.get(key) ?? 0;
          const after = totals.get(key) ?? 0;
          return after >= before ? after - before : after; // a counter that restarted (a worker did)
        });
        return { provider, outcome, counts };
      }),
    };
  }
}

/** GET /api/policy/denials: requests refused by the policy since start, by listener and rule. */
export function policyDenials(metricsText: string): { rules: { listener: string; rule: string; count: number }[] } {
  const rules = samplesOf(metricsText, "proxy_policy_denied_total")
    .map(({ labels, value }) => ({ listener: labels.listener ?? "", rule: labels.rule ?? "", count: value }))
    .filter(({ count }) => count > 0)
    .sort((a, b) => b.count - a.count || a.rule.localeCompare(b.rule));
  return { rules };
}
