#!/usr/bin/env node
// The yardstick for Gatehouse's JS relay: a minimal SOCKS5 CONNECT proxy (no auth, IPv4
// literals only) whose tunnel is Node's own `pipe()` both ways, with half-close. It prints
// `{"port":N}` on stdout. Not a product: the bench's "what plain Node streams achieve".
import { Buffer } from "node:buffer";
import { connect, createServer } from "node:net";

/** Resolves with the next `length` bytes the socket receives (extra bytes are unshifted back). */
function readBytes(socket, length) {
  return new Promise((resolve, reject) => {
    let held = Buffer.alloc(0);
    const onData = (chunk) => {
      held = Buffer.concat([held, chunk]);
      if (held.length < length) return;
      socket.off("data", onData).off("error", reject).pause();
      if (held.length > length) socket.unshift(held.subarray(length));
      resolve(held.subarray(0, length));
    };
    socket.on("data", onData).once("error", reject).resume();
  });
}

async function serve(client) {
  const greeting = await readBytes(client, 2);
  await readBytes(client, greeting[1]);
  client.write(Buffer.from([5, 0]));
  const request = await readBytes(client, 10); // VER CMD RSV ATYP=1 ADDR(4) PORT(2)
  if (request[1] !== 1 || request[3] !== 1) return client.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]));
  const dest = connect({
    host: [...request.subarray(4, 8)].join("."),
    port: request.readUInt16BE(8),
    allowHalfOpen: true,
  });
  dest.on("error", () => client.destroy());
  client.on("error", () => dest.destroy());
  dest.once("connect", () => {
    client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
    client.pipe(dest);
    dest.pipe(client);
  });
}

const server = createServer({ allowHalfOpen: true }, (client) => {
  serve(client).catch(() => client.destroy());
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on("SIGTERM", () => process.exit(0));
