// A TCP listener that never completes a handshake once its accept queue is full: it listens
// with backlog 1 and then blocks its own event loop (Atomics.wait), so nothing is ever
// accepted; after the queue fills (two connections on Linux) further SYNs are dropped by
// the kernel. Prints {"port":N} then holds for argv[2] ms (default 20 s) and exits.
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";

const holdMs = Number(process.argv[2] ?? 20_000);
const host = process.argv[3] ?? "127.0.0.1";
const server = createServer();
server.listen({ host, port: 0, backlog: 1 }, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, holdMs);
  process.exit(0);
});
