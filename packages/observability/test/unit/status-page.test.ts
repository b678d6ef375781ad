import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Counter } from "prom-client";
import { Registry, createAdminServer } from "@gatehouse-proxy/observability";
import type { AdminServer } from "@gatehouse-proxy/observability";
import { AuthHistory, policyDenials, samplesOf } from "../../dist/metrics-history.js";
import { STATUS_PAGE_CSP, statusPageRoutes } from "../../dist/status-page.js";

/** A GET with the path sent exactly as given (fetch would normalise `..` away). */
function rawGet(
  port: number,
  path: string,
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const call = request({ host: "127.0.0.1", port, path, method }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    call.on("error", reject);
    call.end();
  });
}

describe("status page on the admin listener", () => {
  let admin: AdminServer;
  let port: number;
  const registry = new Registry();
  const auth = new Counter({
    name: "proxy_auth_total",
    help: "auth",
    labelNames: ["provider", "outcome", "reason"],
    registers: [registry],
  });
  const denied = new Counter({
    name: "proxy_policy_denied_total",
    help: "denied",
    labelNames: ["listener", "rule"],
    registers: [registry],
  });
  before(async () => {
    admin = createAdminServer({ listen: "127.0.0.1:0", registry });
    await admin.start();
    port = admin.address().port;
  });
  after(() => admin.close());

  it("GET / is the page: HTML with a strict CSP and no inline script", async () => {
    const page = await rawGet(port, "/");
    assert.equal(page.status, 200);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(page.headers["content-security-policy"], STATUS_PAGE_CSP);
    assert.match(STATUS_PAGE_CSP, /script-src 'self'(;|$)/);
    assert.doesNotMatch(STATUS_PAGE_CSP, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers["x-content-type-options"], "nosniff");
    assert.match(page.body, /<script type="module" src="\/assets\/app\.js"><\/script>/);
    assert.doesNotMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, "every script has a src");
    assert.doesNotMatch(page.body, /\sstyle=|\son[a-z]+=/i, "no inline style or event handler");
  });

  it("serves each asset the page links with its content type", async () => {
    const page = (await rawGet(port, "/")).body;
    const linked = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1]!);
    assert.deepEqual([...new Set(linked)].sort(), ["/assets/app.js", "/assets/icon.svg", "/assets/style.css"]);
    const expected: Record<string, string> = {
      "/assets/app.js": "text/javascript; charset=utf-8",
      "/assets/style.css": "text/css; charset=utf-8",
      "/assets/icon.svg": "image/svg+xml",
    };
    for (const [path, type] of Object.entries(expected)) {
      const asset = await rawGet(port, path);
      assert.equal(asset.status, 200, path);
      assert.equal(asset.headers["content-type"], type, path);
      assert.ok(asset.body.length > 0, path);
    }
  });

  it("no path reaches another file: traversal, encodings, folders and index.html are 404", async () => {
    for (const path of [
      "/assets/../package.json",
      "/assets/..%2fpackage.json",
      "/assets/%2e%2e/package.json",
      "/assets/%2e%2e%2fdist%2fadmin-server.js",
      "/../status-page/app.js",
      "/assets/",
      "/assets",
      "/assets//app.js",
      "/assets/APP.JS",
      "/assets/app.js/",
      "/index.html",
      "/status-page/app.js",
      "//assets/app.js",
    ]) {
      const answer = await rawGet(port, path);
      assert.equal(answer.status, 404, path);
    }
  });

  it("other methods on the page are 405", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const answer = await rawGet(port, "/", method);
      assert.equal(answer.status, 405, method);
    }
  });

  it("GET /api/auth/series and /api/policy/denials answer from the metrics", async () => {
    auth.inc({ provider: "corp", outcome: "allow", reason: "ok" }, 3);
    auth.inc({ provider: "corp", outcome: "deny", reason: "bad_credentials" });
    denied.inc({ listener: "main", rule: "no-bob" }, 2);
    const series = await rawGet(port, "/api/auth/series");
    assert.equal(series.status, 200);
    assert.equal(series.headers["content-type"], "application/json");
    const body = JSON.parse(series.body) as { series: { provider: string; outcome: string; counts: number[] }[] };
    assert.deepEqual(
      body.series.map(({ provider, outcome, counts }) => [provider, outcome, counts.reduce((a, b) => a + b, 0)]),
      [
        ["corp", "allow", 3],
        ["corp", "deny", 1],
      ],
    );
    const denials = await rawGet(port, "/api/policy/denials");
    assert.deepEqual(JSON.parse(denials.body), { rules: [{ listener: "main", rule: "no-bob", count: 2 }] });
  });

  it("a missing page folder is an error at start, not a 404 later", () => {
    const empty = mkdtempSync(join(tmpdir(), "status-page-"));
    try {
      assert.throws(() => statusPageRoutes(join(empty, "absent")), /status page files missing/);
      writeFileSync(join(empty, "app.js"), "");
      assert.throws(() => statusPageRoutes(empty), /no index\.html/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("AuthHistory (a simulated clock)", () => {
  const text = (allow: number, deny: number, provider = "corp"): string =>
    [
      "# TYPE proxy_auth_total counter",
      `proxy_auth_total{provider="${provider}",outcome="allow",reason="ok"} ${String(allow)}`,
      `proxy_auth_total{provider="${provider}",outcome="deny",reason="bad_credentials"} ${String(deny)}`,
      `proxy_auth_total{provider="${provider}",outcome="deny",reason="throttled"} 1`,
      `proxy_auth_total_extra{provider="${provider}",outcome="allow"} 99`,
    ].join("\n");

  it("counts decisions per step: the differences between snapshots, the last step live", () => {
    const history = new AuthHistory(0, 10_000, 60_000);
    history.record(10_000, text(2, 0));
    history.record(20_000, text(5, 3));
    const series = history.series(25_000, text(6, 3));
    assert.deepEqual(
      series.times,
      [10_000, 20_000, 25_000].map((time) => new Date(time).toISOString()),
    );
    assert.deepEqual(series.series, [
      { provider: "corp", outcome: "allow", counts: [2, 3, 1] },
      { provider: "corp", outcome: "deny", counts: [1, 3, 0] }, // both deny reasons add up
    ]);
    assert.equal(series.window_seconds, 60);
    assert.equal(series.step_seconds, 10);
  });

  it("keeps only the window (and the base of its first step)", () => {
    const history = new AuthHistory(0, 10_000, 30_000);
    for (let time = 10_000; time <= 100_000; time += 10_000) history.record(time, text(time / 10_000, 0));
    const series = history.series(100_000, text(10, 0));
    assert.deepEqual(
      series.times.map((time) => Date.parse(time)),
      [80_000, 90_000, 100_000, 100_000],
    );
    assert.deepEqual(series.series[0]!.counts, [1, 1, 1, 0]);
  });

  it("a counter that went down (a restarted worker) counts from zero, never negative", () => {
    const history = new AuthHistory(0);
    history.record(10_000, text(10, 0));
    assert.deepEqual(history.series(20_000, text(4, 0)).series[0]!.counts, [10, 4]);
  });

  it("reads label values with escapes and ignores other metrics sharing a prefix", () => {
    const samples = samplesOf(
      'proxy_policy_denied_total{listener="main",rule="policy.rules[0] \\"quoted\\""} 2\nproxy_policy_denied_total_x 5\n',
      "proxy_policy_denied_total",
    );
    assert.deepEqual(samples, [{ labels: { listener: "main", rule: 'policy.rules[0] "quoted"' }, value: 2 }]);
    assert.deepEqual(
      policyDenials(
        'proxy_policy_denied_total{listener="a",rule="x"} 0\nproxy_policy_denied_total{listener="a",rule="y"} 1\nproxy_policy_denied_total{listener="b",rule="z"} 4\n',
      ),
      {
        rules: [
          { listener: "b", rule: "z", count: 4 },
          { listener: "a", rule: "y", count: 1 },
        ],
      },
    );
  });
});
