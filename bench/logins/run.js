#!/usr/bin/env node
// `npm run bench:logins`: RFC 1929 logins/s through the real gatehouse process for each auth
// provider with a bench module here (bench/logins/<provider>.js), with the cache off and on,
// and a burst of identical concurrent logins (coalescing). See README.md in this folder.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { startGatehouse } from "./gatehouse-cli.js";
import { runLoginBurst, runLoginLoad } from "./login-load.js";

const here = dirname(fileURLToPath(import.meta.url));
const INFRASTRUCTURE = new Set(["run.js", "login-load.js", "gatehouse-cli.js"]);
const available = readdirSync(here)
  .filter((file) => file.endsWith(".js") && !INFRASTRUCTURE.has(file))
  .map((file) => file.slice(0, -3))
  .sort();

const HELP = `usage: npm run bench:logins -- [options]   (or node bench/logins/run.js after npm run build)
  --only LIST         providers, comma-separated (available: ${available.join(", ") || "none"})
  --duration SECONDS  length of each closed-loop phase (default 10)
  --concurrency N     concurrent clients in the closed-loop phases (default: the module's
                      hint — KDF-bound providers ask for few, so logins are not queued past
                      the pipeline's deadline — else 32)
  --burst N           identical logins started at once in the coalescing phase (default 1000; 0 = skip)
  --json              print only one JSON line per provider`;

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    duration: { type: "string", default: "10" },
    concurrency: { type: "string" },
    burst: { type: "string", default: "1000" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const durationMs = Number(values.duration) * 1000;
const concurrencyOption = values.concurrency === undefined ? undefined : Number(values.concurrency);
const burst = Number(values.burst);
if (
  !(durationMs > 0) ||
  (concurrencyOption !== undefined && (!Number.isInteger(concurrencyOption) || concurrencyOption < 1)) ||
  !Number.isInteger(burst) ||
  burst < 0
) {
  console.error(HELP);
  process.exit(2);
}
const selected = values.only === undefined ? available : values.only.split(",").map((name) => name.trim());
const unknown = selected.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`--only: unknown ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}

const say = (line) => {
  if (!values.json) console.log(line);
};

async function withGatehouse(tmpDir, name, auth, body) {
  const gatehouse = await startGatehouse({ tmpDir, name, auth });
  try {
    return await body(gatehouse.proxy);
  } finally {
    await gatehouse.stop();
  }
}

async function benchProvider(name, tmpDir) {
  const module = await import(pathToFileURL(join(here, `${name}.js`)).href);
  const fixture = await module.setup({ tmpDir });
  const concurrency = concurrencyOption ?? fixture.concurrency ?? 32;
  const authBlock = (cache) => ({ provider: name, providers: { [name]: fixture.provider }, cache, throttle: false });
  const calls = async () => (fixture.backendCalls === undefined ? null : await fixture.backendCalls());
  const result = {
    provider: name,
    note: fixture.note ?? null,
    users: fixture.users.length,
    concurrency,
    load: loadavg()[0],
  };
  try {
    say(`\n== ${name}: ${fixture.users.length} users${fixture.note ? ` (${fixture.note})` : ""}`);
    result.cache_off = await withGatehouse(tmpDir, `${name}-nocache`, authBlock(false), (proxy) =>
      runLoginLoad({ proxy, credentials: fixture.users, concurrency, durationMs }),
    );
    say(`cache off: ${JSON.stringify(result.cache_off)}`);
    result.cache_on = await withGatehouse(tmpDir, `${name}-cache`, authBlock({ ttl: "10m" }), async (proxy) => {
      // Warm the cache with one pass over every user, then measure.
      await runLoginLoad({
        proxy,
        credentials: fixture.users,
        concurrency,
        durationMs: 120_000,
        maxLogins: fixture.users.length,
      });
      return runLoginLoad({ proxy, credentials: fixture.users, concurrency, durationMs });
    });
    say(`cache on:  ${JSON.stringify(result.cache_on)}`);
    if (burst > 0) {
      result.burst = await withGatehouse(tmpDir, `${name}-burst`, authBlock(false), async (proxy) => {
        const before = await calls();
        const outcome = await runLoginBurst({ proxy, credentials: fixture.users[0], count: burst });
        const after = await calls();
        return { ...outcome, backend_calls: before === null || after === null ? null : after - before };
      });
      say(`burst of ${burst} identical logins, cache off: ${JSON.stringify(result.burst)}`);
    }
    if (result.cache_off.per_second > 0) {
      result.cache_speedup = Number((result.cache_on.per_second / result.cache_off.per_second).toFixed(1));
      say(`cache on / cache off: ${result.cache_speedup}x`);
    }
  } finally {
    await fixture.close();
  }
  if (values.json) console.log(JSON.stringify(result));
  return result;
}

const tmpDir = mkdtempSync(join(tmpdir(), "gatehouse-logins-"));
let failed = false;
try {
  for (const name of selected) {
    try {
      await benchProvider(name, tmpDir);
    } catch (error) {
      failed = true;
      console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
} finally {
  if (!failed) rmSync(tmpDir, { recursive: true, force: true });
  else console.error(`logs kept in ${tmpDir}`);
}
process.exit(failed ? 1 : 0);
