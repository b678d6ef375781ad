#!/usr/bin/env node
// Per-request cost of the policy in isolation: what a session does for one CONNECT when a
// policy is configured (parse the client and destination addresses, walk the rules), with
// bench/policy-rules.js's rules (every request walks all of them). Compare the figure with
// the proxy's CPU time per connection from `npm run bench` (proxy CPU s / connections).
//   node bench/policy-eval.js [--rules 100] [--iterations 200000]
import { parseArgs } from "node:util";
import { compileListenerPolicies, evaluatePolicy, parseIp } from "@gatehouse-proxy/core/policy";
import { benchPolicy } from "./policy-rules.js";

const { values } = parseArgs({
  options: { rules: { type: "string", default: "100" }, iterations: { type: "string", default: "200000" } },
});
const rules = Number(values.rules);
const iterations = Number(values.iterations);
const [policy] = compileListenerPolicies(benchPolicy(rules), [undefined]);
const groups = ["staff"];

function once(i) {
  const decision = evaluatePolicy(policy, {
    identities: [],
    groups,
    authenticated: false,
    client: parseIp("127.0.0.1"),
    command: "connect",
    host: undefined,
    address: parseIp(i % 2 === 0 ? "127.0.0.1" : "::1"),
    port: 40000 + (i % 1000),
    source: undefined,
  });
  if (!decision.allowed) throw new Error("the bench policy must allow");
}

for (let i = 0; i < 20000; i++) once(i); // warm up the JIT
let best = Infinity;
for (let round = 0; round < 5; round++) {
  // CPU time, not wall time: the machine may be shared.
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) once(i);
  const used = process.cpuUsage(start);
  best = Math.min(best, ((used.user + used.system) * 1000) / iterations);
}
console.log(
  JSON.stringify({ rules, iterations, ns_per_request: Math.round(best), requests_per_cpu_s: Math.round(1e9 / best) }),
);
