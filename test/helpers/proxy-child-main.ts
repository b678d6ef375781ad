// Runs the engine as its own process for tests that must observe it from outside (RSS,
// file-descriptor limits). Usage: node proxy-child-main.js '<json ProxyChildConfig>'.
// Logs JSON lines on stdout; the first line is {"event":"fixture_ready","ports":[...]}.
// Exits when stdin closes (so it never outlives the test process) or on SIGTERM.
import { createJsonLogger, createProxyServer } from "@gatehouse-proxy/core/engine";
import type { ListenerOptions } from "@gatehouse-proxy/core/engine";
import { spliceBackendFor } from "./relays.js";
import type { RelayKind } from "./relays.js";

interface ProxyChildConfig {
  readonly listeners: ListenerOptions[];
  readonly relay: RelayKind;
}

const config = JSON.parse(process.argv[2] ?? "{}") as ProxyChildConfig;
const logger = createJsonLogger("debug");
const splice = spliceBackendFor(config.relay);
const server = createProxyServer({ listeners: config.listeners, logger, ...(splice !== undefined && { splice }) });
await server.start();
process.stdout.write(
  `${JSON.stringify({ event: "fixture_ready", pid: process.pid, ports: server.addresses().map((a) => a.port) })}\n`,
);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(0), 2000);
  force.unref();
  void server.close().then(() => process.exit(0));
};
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
process.once("SIGTERM", stop);
