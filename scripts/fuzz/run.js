#!/usr/bin/env node
// `npm run fuzz`: random and mutated SOCKS5 handshakes against the real gatehouse process, in a
// private network namespace. See README "Standing fuzz" and `node scripts/fuzz/run.js --help`.
import { Buffer } from "node:buffer";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { clearInterval, setInterval } from "node:timers";
import { parseArgs } from "node:util";
import { SocksClient } from "socks";
import { startDnsServer } from "../../test/dist/helpers/dns-server.js";
import { generateCase, validPasswordFor, SECRET_PATTERN } from "./cases.js";
import { playCase } from "./client.js";
import { startDestinations } from "./destinations.js";
import { startGatehouse } from "./gatehouse.js";
import { assertIsolated, insideNamespace, reexecInNamespace } from "./netns.js";
import { runUdpPhase, startUdpDestinations } from "./udp.js";
import { mustRefuse, parseSent } from "./model.js";
import { HOSTILE_NAMES } from "./names.js";
import { countReplies, judgeCase } from "./oracle.js";
import { concat, greeting, hex, userPass } from "./socks-bytes.js";
import { ALLOWED_PORT, DNS_RECORDS, PROXY_PORT, TRAP_PORT, USERNAME } from "./topology.js";

const DICTIONARY = new Set([...HOSTILE_NAMES, ...Object.keys(DNS_RECORDS)]);

const HELP = `usage: npm run fuzz -- [options]   (or: node scripts/fuzz/run.js [options] after npm run build)
  --duration S     seconds of fuzzing (default 60)
  --cases N        stop after N cases (default: no limit)
  --seed N         the run's seed (default: random); a case is a function of (seed, case#)
  --replay N       play case N of --seed alone and show its bytes, replies and proxy log
  --concurrency N  cases in flight at once (default 128)
  --log-level L    the proxy's log level (default debug: the most lines to search for passwords)
  --json           print the summary as one JSON line (FUZZ-SUMMARY {...}) as well
  --names          print what the proxy answered to each name of the hostile dictionary
  --udp-datagrams N  datagrams of the UDP phase, after the handshakes (default 2000; 0 = none)
Runs inside "unshare --user --map-root-user --net" with only loopback up (needs util-linux and
iproute2). Exit 0 when every oracle held, 1 on any failure, 2 on bad usage or setup.`;

/** After the run: fds may exceed the baseline by this much (timers, lazily opened files). */
const FD_SLACK = 4;
/**
 * After the run, RSS may exceed the baseline by this much: the process keeps the memory it grew
 * into at the peak (V8's heap, the allocator's arenas of libuv threads that ran 32 MiB scrypt
 * computations); it stays flat when idle. A leak of 5 KiB per case exceeds it within 60 s.
 */
const RSS_SLACK_KIB = 128 * 1024;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "60" },
      cases: { type: "string" },
      seed: { type: "string" },
      replay: { type: "string" },
      concurrency: { type: "string", default: "128" },
      "log-level": { type: "string", default: "debug" },
      json: { type: "boolean", default: false },
      names: { type: "boolean", default: false },
      "udp-datagrams": { type: "string", default: "2000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const number = (name, value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 0) {
      console.error(`fuzz: --${name} must be a non-negative integer, got ${String(value)}`);
      process.exit(2);
    }
    return parsed;
  };
  if (values.replay !== undefined && values.seed === undefined) {
    console.error("fuzz: --replay needs the --seed of the run that found the case");
    process.exit(2);
  }
  return {
    durationMs: number("duration", values.duration) * 1000,
    maxCases: values.cases === undefined ? Infinity : number("cases", values.cases),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : number("seed", values.seed),
    replay: values.replay === undefined ? undefined : number("replay", values.replay),
    concurrency: Math.max(1, number("concurrency", values.concurrency)),
    logLevel: values["log-level"],
    json: values.json,
    names: values.names,
    udpDatagrams: number("udp-datagrams", values["udp-datagrams"]),
  };
}

/** A normal login and a tunnel through it with the `socks` client: a round trip via the echo server. */
async function normalLoginWorks(password, host) {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: "127.0.0.1", port: PROXY_PORT, type: 5, userId: USERNAME, password },
    command: "connect",
    destination: { host, port: ALLOWED_PORT },
    timeout: 10_000,
  });
  try {
    const message = `ping ${String(Date.now())}`;
    socket.write(message);
    const echoed = await new Promise((resolve, reject) => {
      let text = "";
      const timer = setTimeout(() => reject(new Error("no echo within 5 s")), 5000);
      socket.on("data", (chunk) => {
        text += chunk.toString();
        if (text.length >= message.length) {
          clearTimeout(timer);
          resolve(text);
        }
      });
      socket.on("error", reject);
    });
    if (echoed !== message) throw new Error(`echo mismatch: ${echoed}`);
  } finally {
    socket.destroy();
  }
}

/** One RFC 1929 login that the proxy refuses; resolves when it has answered or closed. */
function refusedLogin(username) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: PROXY_PORT });
    socket.on("connect", () => socket.write(concat([greeting([2]), userPass(username, "wrong")])));
    socket.on("error", () => resolve());
    socket.on("close", () => resolve());
    socket.resume(); // read the replies, so the proxy's close is seen
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

/**
 * Brings the proxy to its working set before the baseline is taken: the unknown-user scrypt
 * (32 MiB per computation on each of libuv's threads, kept by the allocator afterwards), a
 * burst of concurrent logins and tunnels.
 */
async function warmUp(password, concurrency) {
  await Promise.all(Array.from({ length: 8 }, (_, i) => refusedLogin(`warm-up-unknown-${String(i)}`)));
  await Promise.all(
    Array.from({ length: Math.min(concurrency, 64) }, (_, i) =>
      normalLoginWorks(password, i % 2 ? "127.0.0.1" : "ok.example.com"),
    ),
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await sleep(100);
  return predicate();
}

function mib(kib) {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

async function fuzz(options) {
  assertIsolated();
  const tmpDir = mkdtempSync(join(tmpdir(), "gatehouse-fuzz-"));
  const password = validPasswordFor(options.seed);
  const dns = await startDnsServer({ records: DNS_RECORDS });
  const destinations = await startDestinations();
  const udpDestinations = await startUdpDestinations();
  let proxy;
  try {
    proxy = await startGatehouse({ tmpDir, password, logLevel: options.logLevel, dnsAddress: dns.address });
    await normalLoginWorks(password, "127.0.0.1");
    await normalLoginWorks(password, "ok.example.com");
    const warmUpStarted = Date.now();
    await warmUp(password, options.concurrency);
    const warmUpMs = Date.now() - warmUpStarted;
    await sleep(1000);
    const before = proxy.stats();
    const failures = [];
    const counts = { cases: 0, byKind: {}, replies: {}, tunnels: 0, stalled: 0, names: {} };
    const boundPorts = new Map();
    /** Cases that asked for a refused destination at the trap port: who an untraced trap connection may be. */
    const trapSuspects = [];
    const checkedSecrets = new Set();
    const uncheckedSecrets = new Set();
    const cases = new Map();

    const runOne = async (index) => {
      const fuzzCase = generateCase(options.seed, index);
      const delivered = concat(fuzzCase.delivery.chunks.map((chunk) => chunk.bytes));
      const model = parseSent(delivered, password);
      const startedAt = Date.now();
      const outcome = await playCase(fuzzCase, model, countReplies(model));
      const judged = judgeCase(delivered, model, outcome);
      counts.cases += 1;
      counts.byKind[fuzzCase.kind] = (counts.byKind[fuzzCase.kind] ?? 0) + 1;
      const replyKey = judged.reply === undefined ? "none" : `0x${judged.reply.toString(16).padStart(2, "0")}`;
      counts.replies[replyKey] = (counts.replies[replyKey] ?? 0) + 1;
      if (outcome.stalled) counts.stalled += 1;
      if (judged.boundPort !== undefined) {
        counts.tunnels += 1;
        const list = boundPorts.get(judged.boundPort) ?? [];
        list.push({ index, from: startedAt, to: Date.now() });
        boundPorts.set(judged.boundPort, list);
      }
      const nameText = model.request?.nameBytes && Buffer.from(model.request.nameBytes).toString("utf8");
      if (fuzzCase.kind === "valid" && DICTIONARY.has(nameText)) {
        const name = JSON.stringify(nameText);
        const key = `${describeCommand(model.request.command)} :${String(model.request.port)}`;
        const byTarget = (counts.names[name] ??= {});
        const replies = (byTarget[key] ??= new Set());
        replies.add(replyKey);
      }
      if (model.request !== undefined && model.request.port === TRAP_PORT && mustRefuse(model.request) !== undefined) {
        trapSuspects.push({ index, from: startedAt, to: Date.now() });
      }
      for (const token of judged.checked) checkedSecrets.add(token);
      for (const token of judged.unchecked) uncheckedSecrets.add(token);
      for (const what of judged.failures) failures.push({ index, what, label: fuzzCase.label });
      return { fuzzCase, delivered, model, outcome, judged };
    };

    const echoBefore = destinations.echo.accepted.length;
    const started = Date.now();
    const cpuBefore = proxy.stats().cpuUs;
    let peakFds = before.fds;
    const sampler = setInterval(() => {
      if (proxy.alive()) peakFds = Math.max(peakFds, proxy.stats().fds);
    }, 250);
    let replayed;
    if (options.replay !== undefined) {
      const logOffset = readFileSync(proxy.logFile).length;
      replayed = await runOne(options.replay);
      await sleep(300);
      replayed.log = readFileSync(proxy.logFile).subarray(logOffset).toString("utf8");
    } else {
      let next = 0;
      const worker = async () => {
        while (Date.now() - started < options.durationMs && next < options.maxCases && proxy.alive()) {
          const index = next++;
          cases.set(index, true);
          await runOne(index);
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
    }
    const elapsedMs = Date.now() - started;
    const echoDuringRun = destinations.echo.accepted.slice(echoBefore);
    let udp;
    if (options.replay === undefined && options.udpDatagrams > 0 && proxy.alive()) {
      const phase = await runUdpPhase({
        seed: options.seed,
        count: options.udpDatagrams,
        password,
        destinations: udpDestinations,
      });
      udp = phase.summary;
      failures.push(...phase.failures);
    }
    clearInterval(sampler);
    const cpuUs = proxy.alive() ? proxy.stats().cpuUs - cpuBefore : NaN;

    // Connections close: the proxy's fds come back (bounded wait for FIN-wait and idle timers).
    const drainStarted = Date.now();
    if (proxy.alive()) await waitFor(() => proxy.alive() && proxy.stats().fds <= before.fds + FD_SLACK, 20_000);
    await waitFor(() => destinations.openSockets() === 0, 5000);
    const drainMs = Date.now() - drainStarted;
    const after = proxy.alive() ? proxy.stats() : undefined;

    if (!proxy.alive()) failures.push({ index: -1, what: `gatehouse exited: ${JSON.stringify(proxy.exitStatus())}` });
    if (after !== undefined && after.fds > before.fds + FD_SLACK) {
      failures.push({
        index: -1,
        what: `fds not back to baseline: ${String(before.fds)} before, ${String(after.fds)} after`,
      });
    }
    if (after !== undefined && after.rssKiB > before.rssKiB + RSS_SLACK_KIB) {
      failures.push({
        index: -1,
        what: `RSS not near baseline: ${mib(before.rssKiB)} before, ${mib(after.rssKiB)} after`,
      });
    }
    if (proxy.alive()) {
      for (const host of ["127.0.0.1", "ok.example.com"]) {
        try {
          await normalLoginWorks(password, host);
        } catch (error) {
          failures.push({ index: -1, what: `normal login + tunnel to ${host} failed after the run: ${String(error)}` });
        }
      }
    }

    // The trap must never have seen a connection; trace each one back by its source port.
    const caseAt = (port, at) =>
      (boundPorts.get(port) ?? []).find((entry) => entry.from - 50 <= at && at <= entry.to + 50)?.index;
    for (const accepted of destinations.trap.accepted) {
      const index = caseAt(accepted.port, accepted.at);
      if (index !== undefined && failures.some((failure) => failure.index === index)) continue;
      const suspects = trapSuspects.filter((entry) => entry.from - 50 <= accepted.at && accepted.at <= entry.to + 50);
      failures.push({
        index: index ?? suspects[0]?.index ?? -1,
        what:
          `the trap (denied by policy) accepted a connection from ${String(accepted.address)}:${String(accepted.port)} ` +
          `on ${accepted.local} that no success reply reached` +
          (suspects.length > 0
            ? ` (cases in flight asking for it: ${suspects.map((entry) => `#${String(entry.index)}`).join(", ")})`
            : ""),
      });
    }
    const unattributedEcho = echoDuringRun.filter(
      (accepted) => caseAt(accepted.port, accepted.at) === undefined,
    ).length;

    // No password the proxy parsed as a password may appear in its log.
    const log = readFileSync(proxy.logFile, "utf8");
    const leaked = new Map();
    for (const line of log.split("\n")) {
      for (const token of line.match(SECRET_PATTERN) ?? []) {
        if ((checkedSecrets.has(token) || token === password) && !uncheckedSecrets.has(token) && !leaked.has(token)) {
          leaked.set(token, line.slice(0, 300));
        }
      }
    }
    for (const [token, line] of leaked) {
      failures.push({
        index: -1,
        what: `password ${token === password ? "(the valid one) " : ""}in the proxy log: ${line}`,
      });
    }

    const summary = {
      seed: options.seed,
      cases: counts.cases,
      seconds: Number((elapsedMs / 1000).toFixed(1)),
      casesPerSecond: Math.round(counts.cases / (elapsedMs / 1000)),
      cpuUsPerCase: Math.round(cpuUs / Math.max(1, counts.cases)),
      byKind: counts.byKind,
      replies: counts.replies,
      tunnels: counts.tunnels,
      stalled: counts.stalled,
      echoConnections: echoDuringRun.length,
      unattributedEchoConnections: unattributedEcho,
      trapConnections: destinations.trap.accepted.length,
      udp,
      dnsQueries: dns.log.length,
      passwordsChecked: checkedSecrets.size,
      logBytes: Buffer.byteLength(log),
      warmUpSeconds: Number((warmUpMs / 1000).toFixed(1)),
      drainSeconds: Number((drainMs / 1000).toFixed(1)),
      fds: { before: before.fds, peak: peakFds, after: after?.fds },
      rssKiB: { before: before.rssKiB, peak: after?.peakRssKiB, after: after?.rssKiB },
      alive: proxy.alive(),
      failures: failures.length,
      failureKinds: countKinds(failures),
      failedCases: [...new Set(failures.filter((f) => f.index >= 0).map((f) => f.index))].slice(0, 200),
    };
    if (replayed !== undefined) printReplay(options, replayed);
    if (options.names) printNames(counts.names);
    printReport(options, summary, failures);
    return failures.length === 0 ? 0 : 1;
  } finally {
    await proxy?.stop();
    await destinations.close();
    udpDestinations.close();
    await dns.close();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

function describeCommand(command) {
  return { 1: "CONNECT", 2: "BIND", 3: "UDP" }[command] ?? `cmd${String(command)}`;
}

/** What the proxy answered to each name sent unmutated (valid credentials): the attack table. */
function printNames(names) {
  console.log("\nnames sent unmutated with valid credentials → request replies seen (none = no reply):");
  for (const [name, targets] of Object.entries(names).sort(([a], [b]) => a.localeCompare(b))) {
    const cells = Object.entries(targets)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([target, replies]) => `${target}→${[...replies].sort().join("/")}`);
    console.log(
      `  ${name.length > 70 ? `${name.slice(0, 60)}…(${String(name.length)} chars)` : name}  ${cells.join("  ")}`,
    );
  }
}

function countKinds(failures) {
  const kinds = {};
  for (const failure of failures) {
    // "tunnel to a refused destination (unspecified address): CONNECT ..." → up to the colon.
    const kind = failure.what
      .replace(/:.*$/s, "")
      .replace(/ from .*/s, "")
      .trim();
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

function printReplay(options, { fuzzCase, delivered, model, outcome, judged, log }) {
  console.log(`case #${String(fuzzCase.index)} of seed ${String(options.seed)}: ${fuzzCase.kind}: ${fuzzCase.label}`);
  console.log(
    `  sent (${String(delivered.length)} bytes, ${String(fuzzCase.delivery.chunks.length)} write(s), then ${fuzzCase.delivery.end}): ${hex(delivered)}`,
  );
  console.log(
    `  the model: ${JSON.stringify({ ...model, request: model.request && { ...model.request, nameBytes: model.request.nameBytes && hex(model.request.nameBytes) } })}`,
  );
  console.log(
    `  received (${String(outcome.received.length)} bytes, ${outcome.closed ? "then closed" : "connection left open"}): ${hex(outcome.received.subarray(0, 256))}`,
  );
  console.log(`  verdict: ${judged.failures.length === 0 ? "ok" : judged.failures.join("; ")}`);
  console.log("  proxy log during the case:");
  for (const line of log.split("\n").filter(Boolean).slice(0, 40)) console.log(`    ${line.slice(0, 400)}`);
}

function printReport(options, summary, failures) {
  const line = (label, value) => console.log(`${label.padEnd(28)}${value}`);
  console.log(`\ngatehouse fuzz, seed ${String(summary.seed)}`);
  line("cases", `${String(summary.cases)} in ${String(summary.seconds)} s (${String(summary.casesPerSecond)}/s)`);
  line("  by kind", JSON.stringify(summary.byKind));
  line("  replies (request stage)", JSON.stringify(summary.replies));
  line("proxy CPU per case", `${String(summary.cpuUsPerCase)} µs (utime+stime from /proc)`);
  line(
    "tunnels (reply 00)",
    `${String(summary.tunnels)}; echo saw ${String(summary.echoConnections)} connections (${String(summary.unattributedEchoConnections)} not traced to a reply), trap saw ${String(summary.trapConnections)}`,
  );
  if (summary.udp !== undefined) {
    line(
      "UDP phase",
      `${String(summary.udp.datagrams)} datagrams (${String(summary.udp.malformed)} malformed); ${String(summary.udp.echoed)} echoed, trap received ${String(summary.udp.trap)}`,
    );
  }
  line("DNS queries (local server)", String(summary.dnsQueries));
  line("passwords searched in log", `${String(summary.passwordsChecked)} in ${mib(summary.logBytes / 1024)} of log`);
  line("owed replies not received", String(summary.stalled));
  line("warm-up, drain", `${String(summary.warmUpSeconds)} s, ${String(summary.drainSeconds)} s (until fds are back)`);
  line(
    "fds",
    `${String(summary.fds.before)} before, ${String(summary.fds.peak)} peak, ${String(summary.fds.after)} after`,
  );
  line(
    "RSS",
    `${mib(summary.rssKiB.before)} before, ${summary.rssKiB.peak === undefined ? "?" : mib(summary.rssKiB.peak)} peak, ${summary.rssKiB.after === undefined ? "?" : mib(summary.rssKiB.after)} after`,
  );
  line("process alive", String(summary.alive));
  if (failures.length === 0) {
    console.log("\nno failures");
  } else {
    console.log(`\n${String(failures.length)} failure(s): ${JSON.stringify(summary.failureKinds)}`);
    const shown = new Set();
    for (const failure of failures) {
      if (shown.size >= 40) break;
      const key = failure.what.replace(/\d+/g, "#");
      if (shown.has(key) && failure.index >= 0) continue;
      shown.add(key);
      const where = failure.index >= 0 ? `case #${String(failure.index)}` : "run";
      console.log(`  ${where}: ${failure.what}${failure.label ? `\n      ${failure.label}` : ""}`);
    }
    const first = failures.find((f) => f.index >= 0);
    if (first !== undefined)
      console.log(`replay one: npm run fuzz -- --seed ${String(options.seed)} --replay ${String(first.index)}`);
  }
  if (options.json) console.log(`FUZZ-SUMMARY ${JSON.stringify(summary)}`);
}

const options = parseOptions();
const script = fileURLToPath(import.meta.url);
if (!insideNamespace()) {
  process.exitCode = await reexecInNamespace(script, process.argv.slice(2));
} else {
  try {
    process.exitCode = await fuzz(options);
  } catch (error) {
    console.error(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 2;
  }
}
