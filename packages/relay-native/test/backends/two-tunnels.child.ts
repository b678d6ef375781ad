// Run as a child process or a worker thread by native-relay.test.ts: relays two tunnels between
// connections it makes to the parent's two servers (argv: client-side port, destination-side
// port), then holds no handle of its own. Prints `relaying` once both run; when the first ends
// on its own it prints `ended` and stops the second with close(). With nothing running, a
// child process must then exit by itself.
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import type { NativeTunnel } from "@gatehouse-proxy/relay-native";
import { relay } from "./tunnel-pair.js";

const [clientPort, destPort] = process.argv.slice(2).map(Number);

async function leg(port: number): Promise<Socket> {
  const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  // Paused in the connect listener, before Node starts reading.
  socket.once("connect", () => socket.pause());
  await once(socket, "connect");
  return socket;
}

function fdOf(socket: Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

async function tunnel(onEnd: () => void) {
  const [client, dest] = [await leg(clientPort!), await leg(destPort!)];
  const started = relay().start(fdOf(client), fdOf(dest), onEnd);
  client.destroy();
  dest.destroy();
  return started;
}

// The first tunnel's onEnd runs on a later turn of the event loop, once both have started.
const second: { tunnel?: NativeTunnel } = {};
await tunnel(() => {
  process.stdout.write("ended\n");
  second.tunnel!.close();
});
second.tunnel = await tunnel(() => process.stdout.write("second tunnel reported an end\n"));
process.stdout.write("relaying\n");
