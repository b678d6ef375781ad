import { once } from "node:events";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import type { TLSSocket } from "node:tls";
import { SocksClient } from "socks";

/** Reads exactly `length` bytes (or fails when the socket closes first). */
export function readBytes(socket: Socket, length: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(
      () => finish(new Error(`no ${String(length)} bytes within ${String(timeoutMs)} ms`)),
      timeoutMs,
    );
    const onData = (data: Buffer): void => {
      buffered = Buffer.concat([buffered, data]);
      if (buffered.length >= length) finish(undefined);
    };
    const onClose = (): void => finish(new Error(`closed after ${String(buffered.length)} bytes`));
    function finish(error: Error | undefined): void {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      if (error === undefined) resolve(buffered.subarray(0, length));
      else reject(error);
    }
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

/**
 * One RFC 1929 login from a chosen loopback source address (127.0.0.0/8 is all local on
 * Linux): greeting `05 01 02`, then the credentials. Resolves with the status byte of the
 * `01 xx` answer (0 = success).
 */
export async function loginStatus(
  proxyPort: number,
  username: string,
  password: string,
  localAddress = "127.0.0.1",
): Promise<number> {
  const socket = connect({ host: "127.0.0.1", port: proxyPort, localAddress });
  socket.on("error", () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.write(Buffer.from([0x05, 0x01, 0x02]));
    const method = await readBytes(socket, 2);
    if (method[1] !== 0x02) throw new Error(`method ${method.toString("hex")}`);
    const user = Buffer.from(username);
    const pass = Buffer.from(password);
    socket.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]));
    const status = await readBytes(socket, 2);
    return status[1]!;
  } finally {
    socket.destroy();
  }
}

/** A TLS connection to a TLS listener (any certificate accepted: the test inspects it). */
export async function connectTlsListener(port: number, proxyHeader?: Buffer): Promise<TLSSocket> {
  let socket: TLSSocket;
  if (proxyHeader === undefined) {
    socket = connectTls({ host: "127.0.0.1", port, rejectUnauthorized: false });
  } else {
    // Behind a balancer: the PROXY header in the clear, then TLS on the same connection.
    const tcp = connect({ host: "127.0.0.1", port });
    await once(tcp, "connect");
    tcp.write(proxyHeader);
    socket = connectTls({ socket: tcp, rejectUnauthorized: false });
  }
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  return socket;
}

/** A SOCKS5 tunnel (username/password) over an established TLS connection to 127.0.0.1:`port`. */
export async function tunnelOverTls(
  tlsSocket: TLSSocket,
  port: number,
  user: string,
  password: string,
): Promise<Socket> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: "127.0.0.1", port: 0, type: 5, userId: user, password },
    command: "connect",
    destination: { host: "127.0.0.1", port },
    existing_socket: tlsSocket,
    timeout: 10_000,
  });
  return socket;
}
