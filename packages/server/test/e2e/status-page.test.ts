// The status page in a real browser (headless Debian Chromium driven by playwright-core) against
// the real gatehouse process: curl tunnels appear in the table, a refused login in the recent
// decisions, the row's close button ends the curl transfer, and a token-protected admin
// listener asks for its token once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TestContext } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import type { Browser, Page } from "playwright-core";
import { startDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import type { TestDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import { artifactsDir, launchChromium, startSlowHttp } from "../helpers/browser.js";
import { startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { curlThrough } from "../helpers/curl.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";

const PASSWORD = "page-secret-58";
const TOKEN = "status-page-token-0123456789abcdef";
const SLOW_NAME = "slow.gatehouse.test";

/** A curl transfer through the proxy that stays open (the slow server never finishes). */
interface OpenTransfer {
  /** Resolves once the first bytes came back: the tunnel is up. */
  readonly flowing: Promise<void>;
  /** Resolves with curl's exit code. */
  readonly exited: Promise<number | null>;
  stop(): void;
}

function openTransfer(proxyPort: number, url: string, user: string): OpenTransfer {
  const child = spawn(
    "curl",
    [
      "--silent",
      "--no-buffer",
      "--max-time",
      "60",
      "--socks5-hostname",
      `127.0.0.1:${String(proxyPort)}`,
      "--proxy-user",
      user,
      url,
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  const flowing = new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("close", (code) => reject(new Error(`curl exited with ${String(code)} before any bytes`)));
  });
  flowing.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  child.stdout.resume();
  return {
    flowing,
    exited,
    stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
        process.kill(child.pid, "SIGTERM");
    },
  };
}

/** Rejects after `ms` unless `promise` settles first. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${String(ms)} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Console errors and uncaught exceptions of a page. */
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  return errors;
}

describe("status page in headless Chromium against a running gatehouse", () => {
  const fixture = makeFixtureDir();
  let dns: TestDnsServer;
  let slow: Awaited<ReturnType<typeof startSlowHttp>>;
  let browser: Browser;
  let record: string;
  const transfers: OpenTransfer[] = [];

  before(async () => {
    [dns, slow, browser, record] = await Promise.all([
      startDnsServer({ records: { [SLOW_NAME]: { A: ["127.0.0.1"] } } }),
      startSlowHttp(),
      launchChromium(),
      hashPassword(PASSWORD, CHEAP_SCRYPT),
    ]);
  });
  after(async () => {
    for (const transfer of transfers) transfer.stop();
    await browser.close();
    slow.close();
    await dns.close();
    fixture.remove();
  });

  /** `extra`: config lines after `admin: listen` (indented ones belong to `admin:`). */
  const startProxy = (name: string, extra: string[]): Promise<RunningCli> =>
    startCli([
      "--config",
      fixture.write(
        name,
        [
          "listeners:",
          "  - listen: 127.0.0.1:0",
          "    name: main",
          "    require_auth: true",
          ...staticAuthLines({ record, groups: ["staff"] }, { bob: record, mallory: record }),
          "policy:",
          "  default: allow",
          "  rules:",
          "    - name: no-mallory",
          "      action: deny",
          "      identities: [mallory]",
          "admin:",
          "  listen: 127.0.0.1:0",
          ...extra,
          "dns:",
          `  servers: ["${dns.address}"]`,
          "shutdown_timeout: 1s",
        ].join("\n"),
      ),
    ]);

  const slowUrl = `http://${SLOW_NAME}:PORT/slow`;
  const open = (proxy: RunningCli, user: string): OpenTransfer => {
    const transfer = openTransfer(proxy.ports[0]!, slowUrl.replace("PORT", String(slow.port)), user);
    transfers.push(transfer);
    return transfer;
  };
  const tunnelRow = (page: Page, identity: string) =>
    page
      .locator("#tunnels tbody tr")
      .filter({ has: page.locator('td[data-column="identity"]', { hasText: identity }) });

  /** A gatehouse (with `extra` config lines), a 1280 px page in a fresh browser context, and its console errors. */
  const withPage = async (
    name: string,
    extra: string[],
    test: (proxy: RunningCli, page: Page, errors: string[]) => Promise<void>,
  ): Promise<void> => {
    const proxy = await startProxy(name, extra);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      await test(proxy, page, collectErrors(page));
    } finally {
      await context.close();
      await proxy.stop();
    }
  };

  it("shows a curl tunnel within 2 s, a refused login with its reason, a policy denial by rule; Close on the row ends the transfer", async (t: TestContext) => {
    await withPage("page.yaml", [], async (proxy, page, errors) => {
      await page.goto(`http://127.0.0.1:${String(proxy.adminPort)}/`);
      await page.locator("#connection", { hasText: "live" }).waitFor({ timeout: 10_000 });

      const transfer = open(proxy, `alice:${PASSWORD}`);
      await within(transfer.flowing, 10_000, "the curl tunnel carries bytes");
      const tunnelUp = Date.now();
      const row = tunnelRow(page, "alice");
      // The row may first come from a listing taken between the login and the CONNECT (no
      // destination yet); the next poll fills it in. Both must happen within 2 s of the bytes.
      const destination = `${SLOW_NAME}:${String(slow.port)}`;
      await row
        .locator('td[data-column="destination"]')
        .filter({ hasText: destination })
        .waitFor({ timeout: Math.max(1, 2000 - (Date.now() - tunnelUp)) });
      const appearedMs = Date.now() - tunnelUp;
      t.diagnostic(`the tunnel appeared in the table ${String(appearedMs)} ms after curl received its first bytes`);
      assert.equal(await row.locator('td[data-column="destination"]').textContent(), destination);
      assert.match((await row.locator('td[data-column="peer"]').textContent()) ?? "", /^127\.0\.0\.1:\d+$/);
      assert.equal(await page.locator("#tunnel-count").textContent(), "1");

      assert.equal(
        (await curlThrough(proxy.ports[0]!, slowUrl.replace("PORT", String(slow.port)), "bob:wrong-password")).exitCode,
        97,
      );
      const refused = page
        .locator("#recent tbody tr")
        .filter({ has: page.locator('td[data-label="User"]', { hasText: "bob" }) });
      await refused.first().waitFor({ timeout: 5000 });
      const apiDecision = (
        (await (await fetch(`http://127.0.0.1:${String(proxy.adminPort)}/api/auth/recent`)).json()) as {
          decisions: { username: string; outcome: string; reason: string }[];
        }
      ).decisions.find((decision) => decision.username === "bob")!;
      assert.notEqual(apiDecision.outcome, "allowed");
      assert.equal(await refused.first().locator('td[data-label="Outcome"]').textContent(), apiDecision.outcome);
      assert.equal(await refused.first().locator('td[data-label="Reason"]').textContent(), apiDecision.reason);
      assert.match(apiDecision.reason, /bad|password|credentials/);

      assert.equal(
        (await curlThrough(proxy.ports[0]!, slowUrl.replace("PORT", String(slow.port)), `mallory:${PASSWORD}`))
          .exitCode,
        97,
      );
      // The chart, the provider list and the policy denials come from the slower poll.
      await page.locator("#denials li", { hasText: "no-mallory (main)" }).waitFor({ timeout: 10_000 });
      assert.equal(await page.locator("#denials li .bar-value").textContent(), "1");
      await page.locator("#auth-legend li", { hasText: "local · allowed: 2" }).waitFor({ timeout: 10_000 });
      await page.locator("#providers li", { hasText: "local" }).waitFor({ timeout: 10_000 });

      const dir = artifactsDir(`status-page-${String(process.pid)}`);
      const wide = join(dir, "status-page-1280.png");
      await page.screenshot({ path: wide, fullPage: true });
      t.diagnostic(`screenshot: ${wide}`);
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
      assert.ok(overflow <= 0, `no sideways scrolling on a phone (${String(overflow)} px too wide)`);
      await row.locator("button.close-row").waitFor();
      const phone = join(dir, "status-page-phone.png");
      await page.screenshot({ path: phone, fullPage: true });
      t.diagnostic(`screenshot: ${phone}`);
      await page.setViewportSize({ width: 1280, height: 900 });

      const since = proxy.stdout().length;
      await row.locator("button.close-row").click();
      const code = await within(transfer.exited, 5000, "curl ends after Close");
      assert.notEqual(code, 0, "the transfer was cut, not finished");
      const end = await proxy.waitForEvent("session_end", since);
      assert.equal(end["reason"], "closed_by_admin");
      await row.waitFor({ state: "detached", timeout: 5000 });
      await page.locator("#toast", { hasText: "Closed 1 tunnel" }).waitFor({ timeout: 5000 });
      assert.deepEqual(errors, [], "no console errors");
    });
  });

  it("sorts and filters the tunnels; All of <identity> closes every tunnel of that identity", async () => {
    await withPage("sort.yaml", [], async (proxy, page, errors) => {
      await page.goto(`http://127.0.0.1:${String(proxy.adminPort)}/`);
      const alice = [open(proxy, `alice:${PASSWORD}`), open(proxy, `alice:${PASSWORD}`)];
      const bob = open(proxy, `bob:${PASSWORD}`);
      await Promise.all([...alice, bob].map((transfer) => within(transfer.flowing, 10_000, "tunnel up")));
      const identities = page.locator('#tunnels tbody td[data-column="identity"]');
      await page.locator("#tunnel-count", { hasText: "3" }).waitFor({ timeout: 5000 });

      await page.locator('th button[data-sort="identity"]').click();
      assert.deepEqual(await identities.allTextContents(), ["alice", "alice", "bob"]);
      await page.locator('th button[data-sort="identity"]').click();
      assert.deepEqual(await identities.allTextContents(), ["bob", "alice", "alice"]);

      await page.locator("#tunnel-filter").fill("staff"); // alice's group
      assert.deepEqual(await identities.allTextContents(), ["alice", "alice"]);
      await page.locator("#tunnel-filter").fill("");

      const closeAll = tunnelRow(page, "alice").first().locator("button.close-identity");
      await closeAll.click();
      assert.equal(await closeAll.textContent(), "Close 2 of alice?", "the first click only arms the button");
      await closeAll.click();
      await Promise.all(alice.map((transfer) => within(transfer.exited, 5000, "alice's curl ends")));
      await page.locator("#tunnel-count", { hasText: "1" }).waitFor({ timeout: 5000 });
      assert.deepEqual(await identities.allTextContents(), ["bob"]);
      assert.equal(await Promise.race([bob.exited.then(() => "ended"), Promise.resolve("open")]), "open");
      assert.deepEqual(errors, []);
    });
  });

  it("with workers: 2 the page lists and closes tunnels from every worker; its chart sums their decisions", async () => {
    await withPage("workers.yaml", ["workers: 2"], async (proxy, page, errors) => {
      await page.goto(`http://127.0.0.1:${String(proxy.adminPort)}/`);
      const transfers = [1, 2, 3, 4].map(() => open(proxy, `alice:${PASSWORD}`));
      await Promise.all(transfers.map((transfer) => within(transfer.flowing, 10_000, "tunnel up")));
      await page.locator("#tunnel-count", { hasText: "4" }).waitFor({ timeout: 5000 });
      const relays = await page.locator('#tunnels tbody td[data-column="relay"]').allTextContents();
      const workers = new Set(relays.map((text) => /w(\d+)/.exec(text)?.[1]));
      assert.ok(!workers.has(undefined), `every row names its worker: ${relays.join(", ")}`);
      await page.locator("#auth-legend li", { hasText: "local · allowed: 4" }).waitFor({ timeout: 10_000 });

      const row = tunnelRow(page, "alice").first();
      const id = await row.getAttribute("data-id");
      await row.locator("button.close-row").click();
      const ended = await Promise.race(transfers.map((transfer, index) => transfer.exited.then(() => index)));
      assert.equal(typeof ended, "number");
      await page.locator("#tunnel-count", { hasText: "3" }).waitFor({ timeout: 5000 });
      assert.equal(await page.locator(`#tunnels tbody tr[data-id="${id ?? ""}"]`).count(), 0);
      assert.deepEqual(errors, []);
    });
  });

  it("with admin.token the page asks for it once, keeps it in the tab and sends it as a bearer token", async () => {
    await withPage("token.yaml", [`  token: "${TOKEN}"`], async (proxy, page, errors) => {
      const base = `http://127.0.0.1:${String(proxy.adminPort)}`;
      assert.equal(
        (await fetch(`${base}/api/auth/series`)).status,
        401,
        "the page's own data routes need the token too",
      );
      assert.equal((await fetch(`${base}/api/policy/denials`)).status, 401);
      assert.equal((await fetch(`${base}/`)).status, 200, "the page itself holds no data");

      const transfer = open(proxy, `alice:${PASSWORD}`);
      await within(transfer.flowing, 10_000, "tunnel up");
      await page.goto(`${base}/`);
      const dialog = page.locator("#token-dialog");
      await dialog.waitFor({ state: "visible", timeout: 5000 });
      await page.locator("#token-input").fill("not-the-token");
      await page.locator("#token-form button").click();
      await page.locator("#token-message", { hasText: "refused" }).waitFor({ timeout: 5000 });
      await page.locator("#token-input").fill(TOKEN);
      await page.locator("#token-form button").click();
      await tunnelRow(page, "alice").waitFor({ timeout: 5000 });
      await dialog.waitFor({ state: "hidden" });

      await page.reload();
      await page.locator("#connection", { hasText: "live" }).waitFor({ timeout: 10_000 });
      await tunnelRow(page, "alice").waitFor({ timeout: 5000 });
      assert.equal(await dialog.isVisible(), false, "asked once: the tab kept the token");
      // 401 answers show as failed loads in the console; nothing else may.
      assert.deepEqual(
        errors.filter((text) => !/status of 401/.test(text)),
        [],
      );
      assert.ok(errors.length > 0, "the first requests were refused");
    });
  });
});
