// The proxies under test. Each subject's start() launches it pinned to the proxy CPU and
// resolves with { record, port, note }; `direct` has no proxy at all.
import { writeFileSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hashPassword } from "@gatehouse-proxy/core";
import { haveCommand, startProcess, stopProcess } from "./procs.js";
import { repoRoot, waitForPort } from "./socksbench.js";

export const BENCH_USER = "bench";
export const BENCH_PASSWORD = "bench-secret-1";
const credentials = { user: BENCH_USER, password: BENCH_PASSWORD };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Rules in the gatehouse-policy subject's policy (every request walks all of them). */
export const BENCH_POLICY_RULES = 100;

async function startGatehouse(ctx, auth, policyRules, relay = "splice") {
  const node = [process.execPath];
  if (ctx.cpuProf) node.push("--cpu-prof", `--cpu-prof-dir=${ctx.profDir}`);
  const args = [join(repoRoot, "bench", "gatehouse-proxy.js"), "--log-level", ctx.logLevel];
  if (auth) args.push("--user", auth.user, "--password", auth.password);
  if (policyRules !== undefined) args.push("--policy-rules", String(policyRules));
  args.push("--relay", relay);
  const suffix = `${auth ? "-auth" : ""}${policyRules === undefined ? "" : "-policy"}${relay === "js" ? "-js" : ""}`;
  const logFile = join(ctx.tmp, `gatehouse${suffix}.log`);
  const record = startProcess({
    name: "gatehouse",
    argv: [...node, ...args],
    cpu: ctx.cpu,
    nofile: ctx.nofile,
    logFile,
    pipeStdout: true,
  });
  const { port } = JSON.parse(await firstLine(record, logFile));
  const rules = policyRules === undefined ? "" : `, ${String(policyRules)} policy rules`;
  return {
    record,
    port,
    logFile,
    note: `node ${process.version}, ${relay} relay, logger ${ctx.logLevel}${rules}`,
    // bench/gatehouse-proxy.js runs a full garbage collection on SIGUSR2 (idle: memory retained, not garbage).
    collectSignal: "SIGUSR2",
  };
}

/** bench/pipe-relay.js: Node's `pipe()` both ways, the yardstick for the JS relay. */
async function startPipeRelay(ctx) {
  const logFile = join(ctx.tmp, "pipe-relay.log");
  const record = startProcess({
    name: "pipe-relay",
    argv: [process.execPath, join(repoRoot, "bench", "pipe-relay.js")],
    cpu: ctx.cpu,
    nofile: ctx.nofile,
    logFile,
    pipeStdout: true,
  });
  const { port } = JSON.parse(await firstLine(record, logFile));
  return { record, port, logFile, note: `node ${process.version} net + pipe()` };
}

/** A per-identity limit no bench run reaches: every session pays the count, none is refused. */
export const UNREACHED_IDENTITY_LIMIT = 100_000;

let benchPasswordRecord;

/**
 * The `gatehouse` command's config for the `--workers` subjects: `workers: N`, the admin
 * listener (per-worker shares), and by variant the bench user in a static provider (an scrypt
 * record, cached for an hour so that the KDF runs once per worker, in the priming run) and a
 * per-identity connection limit.
 */
async function workersConfig({ workers, variant }, port, adminPort, logLevel) {
  const config = {
    listeners: [{ listen: `127.0.0.1:${String(port)}`, require_auth: variant !== "plain" }],
    workers,
    admin: { listen: `127.0.0.1:${String(adminPort)}` },
    log: { level: logLevel, format: "json" },
  };
  if (variant === "plain") return config;
  benchPasswordRecord ??= hashPassword(BENCH_PASSWORD);
  config.auth = {
    provider: "bench",
    providers: { bench: { use: "static", users: { [BENCH_USER]: { password: await benchPasswordRecord } } } },
    cache: { ttl: "1h" },
  };
  if (variant === "limit") config.policy = { default: "allow", max_connections_per_identity: UNREACHED_IDENTITY_LIMIT };
  return config;
}

/** GET http://127.0.0.1:PORT/PATH: `{ status, body }`, status 0 when nothing answered. */
export function adminGet(port, path) {
  return new Promise((resolve) => {
    const request = get({ host: "127.0.0.1", port, path, timeout: 10000 }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("timeout", () => request.destroy(new Error("timeout")));
    request.on("error", () => resolve({ status: 0, body: "" }));
  });
}

/** Waits until the admin listener answers /readyz with 200 (every worker serving). */
async function waitForReady(adminPort, record, logFile, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (record.exited) throw new Error(`gatehouse exited (${String(record.exit)}) at startup; see ${logFile}`);
    const { status } = await adminGet(adminPort, "/readyz");
    if (status === 200) return;
    await sleep(100);
  }
  throw new Error(`gatehouse was not ready within ${String(timeoutMs / 1000)} s; see ${logFile}`);
}

/**
 * The real `gatehouse` command (packages/server/dist/cli.js) with `workers: N` on a generated
 * config; `sched` sets NODE_CLUSTER_SCHED_POLICY (rr: the primary accepts and hands each
 * connection over; none: workers accept from the shared socket). Resolves with the admin port too.
 */
export async function startGatehouseWorkers(ctx, spec) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const level = ctx.logLevel === "silent" ? "silent" : "warn";
  const configFile = join(ctx.tmp, `gatehouse-${spec.name}.yaml`);
  writeFileSync(configFile, JSON.stringify(await workersConfig(spec, port, adminPort, level), null, 2)); // JSON is YAML
  const logFile = join(ctx.tmp, `gatehouse-${spec.name}.log`);
  const node = [process.execPath];
  if (ctx.cpuProf) node.push("--cpu-prof", `--cpu-prof-dir=${ctx.profDir}`);
  const record = startProcess({
    name: "gatehouse",
    argv: [...node, join(repoRoot, "packages", "server", "dist", "cli.js"), "--config", configFile],
    cpu: ctx.cpu,
    nofile: ctx.nofile,
    logFile,
    env: spec.sched === undefined ? undefined : { NODE_CLUSTER_SCHED_POLICY: spec.sched },
  });
  try {
    await waitForReady(adminPort, record, logFile);
  } catch (error) {
    await stopProcess(record);
    throw error;
  }
  const sched = spec.sched === undefined ? "" : `, NODE_CLUSTER_SCHED_POLICY=${spec.sched}`;
  return { record, port, adminPort, logFile, note: `gatehouse CLI, workers: ${String(spec.workers)}${sched}` };
}

/** The first line a subject prints on stdout (its port), or an error if it exits or is silent. */
function firstLine(record, logFile) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${record.name} did not start; see ${logFile}`)), 15000);
    record.child.on("exit", () => reject(new Error(`${record.name} exited at startup; see ${logFile}`)));
    createInterface({ input: record.child.stdout }).once("line", (text) => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

async function startMicrosocks(ctx, auth) {
  const port = await freePort();
  const argv = ["microsocks", "-i", "127.0.0.1", "-p", String(port)];
  if (auth) argv.push("-u", auth.user, "-P", auth.password);
  const logFile = join(ctx.tmp, `microsocks${auth ? "-auth" : ""}.log`);
  const record = startProcess({ name: "microsocks", argv, cpu: ctx.cpu, nofile: ctx.nofile, logFile });
  await waitForPort(port, record);
  return { record, port, logFile, note: "microsocks (thread per client)" };
}

function danteConfig(port) {
  return [
    "logoutput: stderr",
    `internal: 127.0.0.1 port = ${String(port)}`,
    "external: 127.0.0.1",
    "clientmethod: none",
    "socksmethod: none",
    "user.privileged: root",
    "user.unprivileged: nobody",
    "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }",
    // Every command, UDP ASSOCIATE (udpassociate, udpreply) too: the udp measure uses it.
    "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }",
    "",
  ].join("\n");
}

async function startDante(ctx) {
  const port = await freePort();
  const conf = join(ctx.tmp, "danted.conf");
  writeFileSync(conf, danteConfig(port));
  const logFile = join(ctx.tmp, "danted.log");
  // Without -D danted stays in the foreground; it forks its own helper processes.
  const record = startProcess({
    name: "danted",
    argv: ["danted", "-f", conf],
    cpu: ctx.cpu,
    nofile: ctx.nofile,
    logFile,
  });
  await waitForPort(port, record);
  return { record, port, logFile, note: "danted (multi-process; memory = sum of Pss)" };
}

/** Every subject, in table order. `binary` is checked before a subject runs. */
export const SUBJECTS = [
  { name: "gatehouse", binary: undefined, auth: undefined, udp: true, start: (ctx) => startGatehouse(ctx) },
  {
    name: "gatehouse-js",
    binary: undefined,
    auth: undefined,
    start: (ctx) => startGatehouse(ctx, undefined, undefined, "js"),
  },
  { name: "gatehouse-auth", binary: undefined, auth: credentials, start: (ctx) => startGatehouse(ctx, credentials) },
  {
    name: "gatehouse-policy",
    binary: undefined,
    auth: undefined,
    start: (ctx) => startGatehouse(ctx, undefined, BENCH_POLICY_RULES),
  },
  { name: "microsocks", binary: "microsocks", auth: undefined, start: (ctx) => startMicrosocks(ctx) },
  {
    name: "microsocks-auth",
    binary: "microsocks",
    auth: credentials,
    start: (ctx) => startMicrosocks(ctx, credentials),
  },
  { name: "dante", binary: "danted", auth: undefined, udp: true, start: (ctx) => startDante(ctx) },
  { name: "pipe", binary: undefined, auth: undefined, start: (ctx) => startPipeRelay(ctx) },
  {
    name: "direct",
    binary: undefined,
    auth: undefined,
    direct: true,
    udp: true,
    start: () => Promise.resolve(undefined),
  },
];

/** `gatehouse` selects gatehouse and gatehouse-auth; `gatehouse-auth` only that one. */
export function selectSubjects(only) {
  if (only === undefined) return SUBJECTS;
  const wanted = only
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  const unknown = wanted.filter((item) => !SUBJECTS.some((s) => s.name === item || s.name.startsWith(`${item}-`)));
  if (unknown.length > 0) {
    throw new Error(
      `--only: unknown subject(s) ${unknown.join(", ")}; known: ${SUBJECTS.map((s) => s.name).join(", ")}`,
    );
  }
  return SUBJECTS.filter((s) => wanted.some((item) => s.name === item || s.name.startsWith(`${item}-`)));
}

export function missingBinary(subject) {
  if (subject.binary === undefined || haveCommand(subject.binary)) return undefined;
  const pkg = subject.binary === "danted" ? "dante-server" : subject.binary;
  return `${subject.binary} not found (install with: apt-get install -y ${pkg})`;
}

export { stopProcess };
