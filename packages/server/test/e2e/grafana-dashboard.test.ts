// examples/grafana/gatehouse.json against a real gatehouse: every panel's PromQL (and every
// variable query) reads only metric names and labels that /metrics really exposes once traffic
// went through (allowed and refused logins, a policy denial, relayed bytes).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { startCli } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { exposedSeries, promqlUse } from "../helpers/promql.js";
import { adminGet } from "../helpers/tunnel.js";

const PASSWORD = "dashboard-secret-31";
/** Labels Prometheus adds to every scraped series (the dashboard's `$instance` filter). */
const TARGET_LABELS = new Set(["instance", "job"]);

interface Target {
  readonly expr: string;
  readonly legendFormat?: string;
}
interface Panel {
  readonly title: string;
  readonly type: string;
  readonly targets?: Target[];
  readonly panels?: Panel[];
}
interface Dashboard {
  readonly panels: Panel[];
  readonly templating: { list: { name: string; type: string; query: unknown }[] };
}

/** Every problem with `expression` against the exposed series (empty when it only reads what exists). */
function problemsOf(expression: string, legend: string, series: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const use = promqlUse(expression);
  const readable = new Set(TARGET_LABELS);
  if (use.selectors.length === 0) problems.push("reads no metric");
  for (const { metric, labels } of use.selectors) {
    const exposed = series.get(metric);
    if (exposed === undefined) {
      problems.push(`metric ${metric} is not exposed`);
      continue;
    }
    for (const label of exposed) readable.add(label);
    for (const label of labels) {
      if (!exposed.has(label) && !TARGET_LABELS.has(label)) problems.push(`${metric} has no label ${label}`);
    }
  }
  for (const label of use.groupingLabels) {
    if (!readable.has(label)) problems.push(`groups by ${label}, which no metric it reads has`);
  }
  const grouped = new Set([...use.groupingLabels, ...TARGET_LABELS]);
  const aggregated = use.functions.some((name) => ["sum", "avg", "min", "max", "count"].includes(name));
  for (const [, label] of legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
    if (!readable.has(label!) || (aggregated && !grouped.has(label!))) {
      problems.push(`legend {{${label!}}} is not a label of the result`);
    }
  }
  return problems;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

describe("examples/grafana/gatehouse.json", () => {
  const fixture = makeFixtureDir();
  const dashboard = JSON.parse(
    readFileSync(join(REPO_ROOT, "examples", "grafana", "gatehouse.json"), "utf8"),
  ) as Dashboard;
  let http: { server: Server; port: number };
  let series: Map<string, Set<string>>;

  before(async () => {
    http = await startHttp();
    const record = await hashPassword(PASSWORD, CHEAP_SCRYPT);
    const file = fixture.write(
      "dashboard.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    name: main",
        "    require_auth: true",
        ...staticAuthLines(record, { bob: record }),
        "policy:",
        "  default: allow",
        "  rules:",
        "    - name: no-bob",
        "      action: deny",
        "      identities: [bob]",
        "admin:",
        "  listen: 127.0.0.1:0",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    const proxy = await startCli(["--config", file]);
    try {
      const port = proxy.ports[0]!;
      const url = `http://127.0.0.1:${String(http.port)}/traffic`;
      assert.equal((await curlThrough(port, url, `alice:${PASSWORD}`)).exitCode, 0);
      assert.equal((await curlThrough(port, url, "alice:wrong-password")).exitCode, 97);
      assert.equal((await curlThrough(port, url, `bob:${PASSWORD}`)).exitCode, 97, "the policy refuses bob");
      await proxy.waitForEvents("session_end", 2); // the refused login ends before any session record
      const metrics = await adminGet(proxy.adminPort!, "/metrics");
      assert.equal(metrics.status, 200);
      series = exposedSeries(metrics.body);
    } finally {
      await proxy.stop();
    }
  });
  after(() => {
    http.server.close();
    fixture.remove();
  });

  it("is a dashboard with panels for tunnels, connections, auth, latency, policy and bytes", () => {
    const used = new Set(
      allPanels(dashboard.panels).flatMap((panel) =>
        (panel.targets ?? []).flatMap((target) => promqlUse(target.expr).selectors.map(({ metric }) => metric)),
      ),
    );
    for (const metric of [
      "proxy_active_connections",
      "proxy_connections_accepted_total",
      "proxy_auth_total",
      "proxy_auth_duration_seconds_bucket",
      "proxy_policy_denied_total",
      "proxy_bytes_client_to_dest_total",
      "proxy_bytes_dest_to_client_total",
    ]) {
      assert.ok(used.has(metric), `a panel shows ${metric}`);
    }
  });

  it("every panel query reads only metrics and labels /metrics exposes", () => {
    let checked = 0;
    for (const panel of allPanels(dashboard.panels)) {
      if (panel.type === "row") continue;
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has a query`);
      for (const target of panel.targets ?? []) {
        const problems = problemsOf(target.expr, target.legendFormat ?? "", series);
        assert.deepEqual(problems, [], `panel "${panel.title}": ${target.expr}`);
        checked++;
      }
    }
    assert.ok(checked >= 10, `${String(checked)} queries checked`);
  });

  it("every variable query reads an exposed metric", () => {
    for (const variable of dashboard.templating.list.filter(({ type }) => type === "query")) {
      const query = variable.query as string | { query: string };
      const text = typeof query === "string" ? query : query.query;
      assert.deepEqual(problemsOf(text, "", series), [], `variable ${variable.name}: ${text}`);
    }
  });

  it("the check catches a misspelt metric, a missing label, a wrong grouping and an unknown function", () => {
    assert.deepEqual(problemsOf("sum(rate(proxy_auth_totals[5m]))", "", series), [
      "metric proxy_auth_totals is not exposed",
    ]);
    assert.deepEqual(problemsOf('proxy_auth_total{listener="main"}', "", series), [
      "proxy_auth_total has no label listener",
    ]);
    assert.deepEqual(problemsOf("sum by (rule) (rate(proxy_auth_total[5m]))", "", series), [
      "groups by rule, which no metric it reads has",
    ]);
    assert.deepEqual(problemsOf("sum(rate(proxy_auth_total[5m]))", "{{provider}}", series), [
      "legend {{provider}} is not a label of the result",
    ]);
    assert.throws(() => promqlUse("rates(proxy_auth_total[5m])"), /unknown PromQL function rates/);
  });
});
