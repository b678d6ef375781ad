// Run as a child process by native-relay.test.ts. Two tunnels through the addon; on stdin:
// `send` fills tunnel A (its destination does not read, so A holds the relay's only pipe), then
// writes 64 KiB into tunnel B and prints `waiting N` (bytes B's destination got within 300 ms);
// `go` prints `delivered N` once all 64 KiB arrived, then lets A drain and prints how both
// ended. Before `send` the parent lowers this process's fd limit so that no new pipe can be
// made, and restores it before `go`.
import { once } from "node:events";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { openTunnel, startServers } from "./tunnel-pair.js";

const SIZE = 64 * 1024;
const FILL = 32 * 1024 * 1024;
const servers = await startServers();
const filled = await openTunnel(servers);
const starved = await openTunnel(servers);
filled.dest.pause();
let received = 0;
starved.dest.on("data", (chunk: Buffer) => (received += chunk.length));
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "send") {
    filled.client.end(Buffer.alloc(FILL, 1));
    // Until A's bytes stop moving: its pipe is full and held.
    for (let last = -1, now = filled.tunnel.counts().clientToDest; now !== last;) {
      await delay(100);
      [last, now] = [now, filled.tunnel.counts().clientToDest];
    }
    starved.client.end(Buffer.alloc(SIZE, 7));
    await delay(300);
    process.stdout.write(`waiting ${String(received)}\n`);
  } else if (line === "go") {
    while (received < SIZE) await delay(5);
    process.stdout.write(`delivered ${String(received)}\n`);
    starved.dest.end();
    filled.dest.resume();
    filled.dest.once("end", () => filled.dest.end());
    const ends = await Promise.all([filled.ended, starved.ended]);
    process.stdout.write(`ended ${ends.map((end) => end.reason).join(" ")}\n`);
    for (const socket of [filled.client, filled.dest, starved.client, starved.dest]) socket.destroy();
    await Promise.race([servers.close(), once(process, "beforeExit")]);
    process.exit(0);
  }
}
