#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the top functions by self time, and self
// time grouped by source (Gatehouse's dist files, Node internals, GC, idle).
//   node bench/profile-summary.js FILE.cpuprofile [TOP]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

function sourceOf(url) {
  if (url === "") return "(native / V8)";
  if (url.includes("/packages/core/dist/")) return `gatehouse ${url.slice(url.indexOf("/dist/") + 6)}`;
  if (url.includes("/bench/")) return `bench ${url.slice(url.indexOf("/bench/") + 7)}`;
  if (url.startsWith("node:")) return url;
  return url;
}

function percent(part, total) {
  return `${((100 * part) / total).toFixed(1).padStart(5)}%`;
}

/** @returns {string[]} printable lines */
export function summarizeProfile(path, top = 20) {
  const profile = JSON.parse(readFileSync(path, "utf8"));
  const intervalUs = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  const byFunction = new Map();
  const bySource = new Map();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const selfUs = node.hitCount * intervalUs;
    if (selfUs === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idle += selfUs;
      continue;
    }
    total += selfUs;
    const source = sourceOf(url);
    const key = `${functionName || "(anonymous)"}  ${source}${url ? `:${String(lineNumber + 1)}` : ""}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + selfUs);
    const group = source.startsWith("gatehouse") ? "gatehouse (all files)" : source;
    bySource.set(group, (bySource.get(group) ?? 0) + selfUs);
  }
  const lines = [
    `${path}: ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle (sampling ${intervalUs.toFixed(0)} µs)`,
    "  top functions by self time (share of busy time):",
  ];
  for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`   ${percent(us, total)}  ${key}`);
  }
  lines.push("  self time by source:");
  for (const [key, us] of [...bySource].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    lines.push(`   ${percent(us, total)}  ${key}`);
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    console.error("usage: node bench/profile-summary.js FILE.cpuprofile [TOP]");
    process.exit(2);
  }
  console.log(summarizeProfile(file, Number(top ?? 20)).join("\n"));
}
