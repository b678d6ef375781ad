#!/usr/bin/env node
// Runs one Gatehouse core proxy for the benchmark and prints `{"port":N,...}` on stdout.
//   node bench/gatehouse-proxy.js [--listen 127.0.0.1:0] [--user U --password P] [--log-level warn|silent]
//                                 [--policy-rules N] [--relay splice|js]
// With --user, the listener requires auth and an in-memory provider knows that one user.
// With --policy-rules N, a policy of N rules that every request walks through (bench/policy-rules.js).
// --relay: splice (default; the relay-native addon, which must be built) or js.
// Logs (JSON lines) go to stderr. SIGTERM/SIGINT close the server and exit 0, so that
// `node --cpu-prof` can write its profile.
import { parseArgs } from "node:util";
import { measureMemory } from "node:vm";
import { createJsonLogger, createProxyServer, tuneProcessForRelay } from "@gatehouse-proxy/core/engine";
import { silentLogger } from "@gatehouse-proxy/core";
import { nativeRelay, tuneAllocator } from "@gatehouse-proxy/relay-native";
import { createMemoryProvider } from "./memory-auth.js";
import { benchPolicy } from "./policy-rules.js";

const { values } = parseArgs({
  options: {
    listen: { type: "string", default: "127.0.0.1:0" },
    user: { type: "string" },
    password: { type: "string", default: "" },
    "log-level": { type: "string", default: "warn" },
    "policy-rules": { type: "string" },
    relay: { type: "string", default: "splice" },
  },
});

const level = values["log-level"];
const logger = level === "silent" ? silentLogger : createJsonLogger(level, (line) => process.stderr.write(line));
const withAuth = values.user !== undefined;
const policyRules = values["policy-rules"] === undefined ? undefined : Number(values["policy-rules"]);
if (policyRules !== undefined && !(Number.isInteger(policyRules) && policyRules >= 0)) {
  throw new Error("--policy-rules: a non-negative integer");
}
// As the `gatehouse` command does: the benchmark measures the relay as shipped.
const runtime = tuneProcessForRelay(process.env, tuneAllocator);
if (values.relay !== "js" && values.relay !== "splice") throw new Error("--relay: splice or js");
if (values.relay === "splice" && !nativeRelay.available) throw new Error(`--relay splice: ${nativeRelay.reason}`);
const splice = values.relay === "splice" ? nativeRelay : undefined;
const server = createProxyServer({
  // UDP ASSOCIATE on (the udp measure); the TCP measures never use it.
  listeners: [{ listen: values.listen, require_auth: withAuth, udp: { enabled: true } }],
  ...(withAuth && { auth: { provider: createMemoryProvider(new Map([[values.user, values.password]])) } }),
  ...(policyRules !== undefined && { policy: benchPolicy(policyRules) }),
  logger,
  ...(splice !== undefined && { splice }),
});
await server.start();
const { port } = server.addresses()[0];
process.stdout.write(
  `${JSON.stringify({ port, auth: withAuth, policy_rules: policyRules ?? 0, log_level: level, pid: process.pid, relay: values.relay, ...runtime })}\n`,
);

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 2000).unref(); // do not wait on stuck sessions
  void server.close().then(() => process.exit(0));
}
process.on("SIGTERM", stop);
// The idle measurement asks for a full collection once its tunnels are up: what they retain,
// apart from the handshakes' garbage that no allocation pressure collects in an idle process.
process.on("SIGUSR2", () => void measureMemory({ execution: "eager" }).catch(() => undefined));
process.on("SIGINT", stop);
