// The printed summary: one row per subject, then Gatehouse's ratios to each peer.
import { existsSync, readFileSync } from "node:fs";

/** Table columns: header, the measure that fills it, the field, decimals. */
const COLUMNS = [
  { header: "conn/s", measure: "connrate", field: "connPerS", digits: 0 },
  { header: "µs CPU/conn", measure: "connrate", field: "cpuUsPerConn", digits: 0 },
  { header: "p50 ms", measure: "connrate", field: "p50Ms", digits: 2 },
  { header: "p99 ms", measure: "connrate", field: "p99Ms", digits: 2 },
  { header: "MB/s 1 tun", measure: "tp1", field: "mbPerS", digits: 1 },
  { header: "s CPU/GB 1", measure: "tp1", field: "cpuSPerGB", digits: 2 },
  { header: "MB/s 50 tun", measure: "tp50", field: "mbPerS", digits: 1 },
  { header: "s CPU/GB 50", measure: "tp50", field: "cpuSPerGB", digits: 2 },
  { header: "KiB/idle tun", measure: "idle", field: "kibPerTunnel", digits: 2 },
  { header: "UDP dgram/s", measure: "udp", field: "datagramsPerS", digits: 0 },
  { header: "µs CPU/dgram", measure: "udp", field: "cpuUsPerDatagram", digits: 1 },
];

function cell(entry, column) {
  const run = entry?.[column.measure];
  if (run === undefined) return "—";
  const value = run[column.field];
  if (typeof value !== "number" || !Number.isFinite(value)) return run.ok ? "—" : "ERR";
  return `${value.toFixed(column.digits)}${run.ok ? "" : "!"}`;
}

/** Rows of text cells as aligned columns (the first left-aligned, the others right-aligned). */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows
    .map((row) => row.map((text, i) => (i === 0 ? text.padEnd(widths[i]) : text.padStart(widths[i]))).join("  "))
    .join("\n");
}

const median = (sorted) =>
  sorted.length % 2 === 1
    ? sorted[(sorted.length - 1) / 2]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;

/** "min / median / max" of one field over the successful runs. */
export function spread(runs, field, digits) {
  const values = runs
    .filter((run) => run.ok)
    .map((run) => run[field])
    .filter((value) => typeof value === "number" && Number.isFinite(value));
  if (values.length === 0) return { text: "—", median: undefined };
  values.sort((a, b) => a - b);
  const format = (value) => value.toFixed(digits);
  return {
    text: `${format(values[0])} / ${format(median(values))} / ${format(values.at(-1))}`,
    median: median(values),
  };
}

export function resultsTable(subjects, results) {
  const rows = [["subject", ...COLUMNS.map((c) => c.header)]];
  for (const subject of subjects) rows.push([subject.name, ...COLUMNS.map((c) => cell(results[subject.name], c))]);
  return table(rows);
}

function ratio(a, b) {
  if (typeof a !== "number" || typeof b !== "number" || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return "—";
  return `${(a / b).toFixed(2)}x`;
}

/**
 * Ratios Gatehouse / peer for every column; gatehouse-auth is also compared with
 * microsocks-auth, gatehouse-policy with gatehouse (the same proxy without rules).
 */
export function ratiosTable(subjects, results) {
  const names = subjects.map((s) => s.name);
  const rows = [["ratio", ...COLUMNS.map((c) => c.header)]];
  for (const g of names.filter((n) => n.startsWith("gatehouse"))) {
    const peers = ["pipe", "microsocks", "dante", "direct"];
    if (g === "gatehouse-auth") peers.splice(1, 0, "microsocks-auth");
    if (g === "gatehouse-policy") peers.unshift("gatehouse"); // the cost of the rules
    if (g === "gatehouse") peers.unshift("gatehouse-js"); // splice against the JS relay
    for (const peer of peers.filter((p) => names.includes(p))) {
      rows.push([
        `${g} / ${peer}`,
        ...COLUMNS.map((c) => ratio(results[g]?.[c.measure]?.[c.field], results[peer]?.[c.measure]?.[c.field])),
      ]);
    }
  }
  return rows.length > 1 ? table(rows) : "(no Gatehouse row and peer measured together: no ratios)";
}

/** One line per failed or suspicious run: exit code, error kinds, proxy death. */
export function problems(subjects, results) {
  const lines = [];
  for (const subject of subjects) {
    const runs = Object.entries(results[subject.name] ?? {}).flatMap(([measure, best]) =>
      [best, ...best.otherRounds].map((run) => [measure, run]),
    );
    for (const [measure, run] of runs) {
      if (run.ok) continue;
      const r = run.result;
      const parts = [`exit ${String(run.exitCode ?? run.signal)}`];
      if (run.killedByDeadline) parts.push("killed at the benchmark's deadline");
      if (run.proxyExited) parts.push(`proxy exited (${run.proxyExited})`);
      if (r?.errors_total) parts.push(`errors ${String(r.errors_total)} ${JSON.stringify(r.errors)}`);
      if (r?.setup_failed) parts.push(`setup_failed ${String(r.setup_failed)}`);
      if (r?.died_during_hold) parts.push(`died_during_hold ${String(r.died_during_hold)}`);
      if (r?.stalled_tunnels) parts.push(`stalled_tunnels ${String(r.stalled_tunnels)}`);
      if (r === undefined) parts.push(`no JSON; stderr: ${run.stderrTail.slice(-3).join(" | ")}`);
      lines.push(`  ${subject.name} ${measure}: ${parts.join("; ")}`);
    }
  }
  return lines;
}

/** A one-line progress summary of a finished measurement. */
export function progressLine(subjectName, run) {
  const r = run.result;
  const proxyCpu = run.proxyCpu
    ? `, proxy ${run.proxyCpu.userS.toFixed(1)}s user + ${run.proxyCpu.sysS.toFixed(1)}s sys`
    : "";
  const busy = Object.entries(run.cpus)
    .map(([cpu, use]) => `${cpu}:${(100 * use.busyShare).toFixed(0)}%`)
    .join(" ");
  const stolen = Object.values(run.cpus).reduce((sum, use) => sum + use.stealS, 0);
  const cpu = `${proxyCpu}; CPUs busy ${busy}${stolen >= 0.05 ? `, stolen ${stolen.toFixed(1)}s` : ""}`;
  const errors = r ? `, errors ${String(r.errors_total)}` : "";
  const status = run.ok ? "ok" : `FAILED (exit ${String(run.exitCode ?? run.signal)})`;
  let figure = "no result";
  if (run.connPerS !== undefined) {
    const perConn = run.cpuUsPerConn === undefined ? "" : ` (${run.cpuUsPerConn.toFixed(0)} µs CPU each)`;
    const latency = run.p50Ms === undefined ? "" : `, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms`;
    figure = `${run.connPerS.toFixed(0)} conn/s${perConn}${latency}`;
  } else if (run.mbPerS !== undefined) {
    const perGB = run.cpuSPerGB === undefined ? "" : ` (${run.cpuSPerGB.toFixed(2)} s CPU per GB relayed)`;
    figure = `${run.mbPerS.toFixed(1)} MB/s${perGB}`;
  } else if (run.datagramsPerS !== undefined) {
    const perDatagram = run.cpuUsPerDatagram === undefined ? "" : ` (${run.cpuUsPerDatagram.toFixed(1)} µs CPU each)`;
    figure = `${run.datagramsPerS.toFixed(0)} datagrams/s relayed${perDatagram}, ${String(r.stalls)} stalls`;
  } else if (run.measure === "idle" && r) {
    const collected =
      run.kibPerTunnelCollected === undefined
        ? ""
        : `; ${run.kibPerTunnelCollected.toFixed(2)} KiB/tunnel after a full garbage collection`;
    const mem =
      run.kibPerTunnel === undefined
        ? ""
        : `, ${run.kibPerTunnel.toFixed(2)} KiB/tunnel peak (${run.memory.metric})${collected}`;
    figure = `${String(r.established)}/${String(r.tunnels)} tunnels in ${String(r.setup_s)}s${mem}`;
  }
  return `  ${run.measure.padEnd(8)} ${subjectName.padEnd(16)} ${figure}${errors}${cpu} — ${status}`;
}

/** Gatehouse's own log lines (level warn and up), counted by message, event and reason. */
export function gatehouseLogSummary(proxies) {
  const lines = [];
  for (const [name, proxy] of Object.entries(proxies)) {
    if (!name.startsWith("gatehouse") || !existsSync(proxy.logFile)) continue;
    const counts = new Map();
    for (const line of readFileSync(proxy.logFile, "utf8").split("\n").filter(Boolean)) {
      let key = line.slice(0, 120);
      try {
        const record = JSON.parse(line);
        key = `${String(record.msg)} ${String(record.event ?? "")} ${String(record.reason ?? record.code ?? "")}`;
      } catch {
        // not JSON: keep the raw text
      }
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    lines.push(`  ${name}: ${String(total)} log lines at level warn+ (${proxy.logFile})`);
    for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5)) lines.push(`    ${String(n)} × ${key}`);
  }
  return lines;
}
