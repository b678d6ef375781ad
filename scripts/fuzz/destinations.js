// The destinations the proxy may dial, on every local address of the namespace: the echo
// server (allowed by the policy on 127.0.0.1 and ::1) and the trap (denied by the policy on
// every local address). Each records the remote port of every connection it accepts, which is
// the BND.PORT of the proxy's success reply, so a connection is traced back to its case.
import { once } from "node:events";
import { createServer } from "node:net";
import { ALLOWED_PORT, TRAP_PORT } from "./topology.js";

async function listen(port, onConnection) {
  const servers = [];
  for (const host of ["0.0.0.0", "::"]) {
    const server = createServer({ allowHalfOpen: false }, onConnection);
    server.listen({ host, port, ipv6Only: host === "::", backlog: 1024 });
    await once(server, "listening");
    servers.push(server);
  }
  return servers;
}

/** @returns {Promise<{echo: {accepted: {port: number, address: string, at: number}[]}, trap: {accepted: ...}, close(): Promise<void>}>} */
export async function startDestinations() {
  const sockets = new Set();
  const track = (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  };
  const echo = { accepted: [] };
  const trap = { accepted: [] };
  const servers = [
    ...(await listen(ALLOWED_PORT, (socket) => {
      track(socket);
      echo.accepted.push({ port: socket.remotePort, address: socket.remoteAddress, at: Date.now() });
      socket.pipe(socket);
    })),
    ...(await listen(TRAP_PORT, (socket) => {
      track(socket);
      trap.accepted.push({
        port: socket.remotePort,
        address: socket.remoteAddress,
        local: `${String(socket.localAddress)}:${String(socket.localPort)}`,
        at: Date.now(),
      });
      socket.destroy();
    })),
  ];
  return {
    echo,
    trap,
    openSockets: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(() => resolve()))));
    },
  };
}
