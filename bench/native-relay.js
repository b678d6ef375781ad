#!/usr/bin/env node
// One loopback tunnel, bulk one way: the splice relay addon (packages/relay-native) against a
// Node `net` + `pipe()` relay. Each relay runs in a child process of its own; its CPU comes
// from /proc/<pid>/stat (user + system, the relay thread's splice time included), so the load
// generator's CPU is not counted. Prints MB/s and CPU seconds per GB for each run.
//
// With --idle N it instead opens N idle tunnels through each relay and prints the relay
// process's RSS and open fds per idle tunnel (from /proc), after full collections; twice per
// relay: with Node's default heap flags, and with V8's young generation capped
// (--max-semi-space-size=1). Its semi-spaces otherwise grow once, up to 16 MiB each, under the
// burst of short-lived socket objects that opening N tunnels is: a fixed cost of any busy Node
// process, up to ~3 KiB of the default figure at 10 000 tunnels, not what an idle tunnel costs.
//
//   npm run build && node bench/native-relay.js [--gib 2] [--runs 3] [--idle N] [--only native,pipe]
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    serve: { type: "string" },
    to: { type: "string" },
    gib: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    idle: { type: "string" },
    only: { type: "string", default: "native,pipe" },
  },
});

// The addon holds a tunnel's onEnd until the tunnel ends: a closure made inside the connection
// listener would keep that listener's context alive, and with it both destroyed sockets
// (measured: ~1.6 KiB per idle tunnel).
const ignoreEnd = () => undefined;

/** Child: accepts tunnels and relays each to 127.0.0.1:--to with the chosen relay. */
async function serve(kind, destPort) {
  const { nativeRelay } = await import("@gatehouse-proxy/relay-native");
  if (kind === "native" && !nativeRelay.available) throw new Error(nativeRelay.reason);
  // On a line from the parent: full collections (the destroyed sockets are garbage, not what
  // an idle tunnel costs), then a line back.
  createInterface({ input: process.stdin }).on("line", async () => {
    for (let round = 0; round < 3; round++) {
      globalThis.gc();
      await delay(100);
    }
    process.stdout.write("collected\n");
  });
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const dest = connect({ port: destPort, host: "127.0.0.1", allowHalfOpen: true });
    dest.once("connect", () => {
      if (kind === "native") {
        dest.pause();
        nativeRelay.start(client._handle.fd, dest._handle.fd, ignoreEnd);
        client.destroy();
        dest.destroy();
      } else {
        client.pipe(dest);
        dest.pipe(client);
        client.resume();
      }
    });
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
}

const TICKS = 100; // USER_HZ on Linux
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

async function startRelay(kind, sinkPort, nodeFlags = []) {
  const child = spawn(
    process.execPath,
    ["--expose-gc", ...nodeFlags, import.meta.filename, "--serve", kind, "--to", String(sinkPort)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const { value: line } = await lines.next();
  return { child, line, lines };
}

/** The relay process's RSS and fds, after full collections. */
async function memoryOf(child, lines) {
  child.stdin.write("collect\n");
  await lines.next();
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))[1]) * 1024;
  return { rss, fds: readdirSync(`/proc/${child.pid}/fd`).length };
}

/** RSS and fds of the relay process per idle tunnel, over `count` tunnels. */
async function idle(kind, count, nodeFlags) {
  // Reads, so that its sockets see the FIN and close when the relay goes.
  const sink = createServer((socket) => socket.resume());
  sink.maxConnections = count + 10;
  sink.listen(0, "127.0.0.1");
  await once(sink, "listening");
  const { child, line, lines } = await startRelay(kind, sink.address().port, nodeFlags);
  const clients = [];
  const open = async () => {
    const client = connect({ port: Number(line), host: "127.0.0.1" });
    await once(client, "connect");
    client.write("x"); // one byte each way through: every tunnel has been used once
    clients.push(client);
  };
  await open();
  await delay(500);
  const before = await memoryOf(child, lines);
  for (let index = 1; index < count; index++) await open();
  await delay(1000);
  const after = await memoryOf(child, lines);
  child.kill();
  for (const client of clients) client.destroy();
  await new Promise((resolve) => sink.close(resolve));
  const tunnels = count - 1;
  return { rss: (after.rss - before.rss) / tunnels, fds: (after.fds - before.fds) / tunnels };
}

async function run(kind, bytes) {
  const sink = createServer((socket) => socket.resume());
  sink.listen(0, "127.0.0.1");
  await once(sink, "listening");
  const { child, line } = await startRelay(kind, sink.address().port);
  const received = new Promise((resolve) =>
    sink.once("connection", (socket) => {
      let count = 0;
      socket.on("data", (chunk) => (count += chunk.length));
      socket.on("end", () => resolve(count));
    }),
  );
  const client = connect({ port: Number(line), host: "127.0.0.1" });
  await once(client, "connect");
  const cpuBefore = cpuSeconds(child.pid);
  const started = process.hrtime.bigint();
  const chunk = Buffer.alloc(256 * 1024, 1);
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!client.write(chunk)) await once(client, "drain");
  }
  client.end();
  const count = await received;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSeconds(child.pid) - cpuBefore;
  child.kill();
  client.destroy();
  sink.close();
  if (count !== bytes) throw new Error(`${kind}: ${count} of ${bytes} bytes arrived`);
  return { mbPerSecond: bytes / 1e6 / seconds, cpuPerGb: cpu / (bytes / 1e9) };
}

if (values.serve !== undefined) {
  await serve(values.serve, Number(values.to));
} else if (values.idle !== undefined) {
  for (const kind of values.only.split(",")) {
    const plain = await idle(kind, Number(values.idle), []);
    const capped = await idle(kind, Number(values.idle), ["--max-semi-space-size=1"]);
    console.log(
      `${kind.padEnd(6)} per idle tunnel: ${(capped.rss / 1024).toFixed(1)} KiB RSS with V8's young generation ` +
        `capped, ${(plain.rss / 1024).toFixed(1)} KiB with default heap flags; ${capped.fds.toFixed(2)} fds`,
    );
  }
} else {
  const bytes = Number(values.gib) * 1024 ** 3;
  for (let index = 0; index < Number(values.runs); index++) {
    for (const kind of values.only.split(",")) {
      const { mbPerSecond, cpuPerGb } = await run(kind, bytes);
      console.log(
        `${kind.padEnd(6)} ${mbPerSecond.toFixed(0).padStart(5)} MB/s  ${cpuPerGb.toFixed(2)} s CPU/GB (relay process)`,
      );
    }
  }
}
