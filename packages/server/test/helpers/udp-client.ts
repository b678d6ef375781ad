import { createSocket } from "node:dgram";
import type { RemoteInfo, Socket as UdpSocket } from "node:dgram";
import { once } from "node:events";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { parseReply, parseUdpHeader, serializeUdpDatagram } from "@gatehouse-proxy/core/engine";
import type { SocksReplyMessage } from "@gatehouse-proxy/core/engine";
import { readBytes } from "./socks-bytes.js";

/** A datagram the relay sent back: the header's source, and the payload. */
export interface RelayedDatagram {
  readonly host: string;
  readonly port: number;
  readonly payload: Buffer;
}

/** One UDP ASSOCIATE, byte by byte: the TCP control connection and the client's UDP socket. */
export interface UdpAssociationClient {
  readonly control: Socket;
  readonly socket: UdpSocket;
  /** The relay endpoint the reply named. */
  readonly relayHost: string;
  readonly relayPort: number;
  /** Sends a datagram with the SOCKS header (a name unless `host` is an IP address). */
  send(host: string, port: number, payload: Buffer | string, options?: { frag?: number }): void;
  /** Sends bytes as they are (a header of the test's own making). */
  sendRaw(bytes: Buffer): void;
  /** The next datagram from the relay. */
  receive(timeoutMs?: number): Promise<RelayedDatagram>;
  /** Datagrams the relay sent that no receive() took yet. */
  readonly unread: RelayedDatagram[];
  close(): void;
}

export interface AssociateOptions {
  readonly user?: string;
  readonly password?: string;
  /** The proxy's address (default 127.0.0.1; `::1` for IPv6). */
  readonly proxyHost?: string;
  /** The client's UDP socket address (default: the proxy's family loopback). */
  readonly localAddress?: string;
  /** Declare the UDP source port in the request (default true); false sends 0. */
  readonly declarePort?: boolean;
}

/** The reply code when the proxy refused the association. */
export class AssociationRefused extends Error {
  constructor(readonly code: number) {
    super(`UDP ASSOCIATE answered ${code.toString(16).padStart(2, "0")}`);
  }
}

/** Greeting, RFC 1929 login when a user is given, UDP ASSOCIATE; throws AssociationRefused for a refusal. */
export async function associate(proxyPort: number, options: AssociateOptions = {}): Promise<UdpAssociationClient> {
  const proxyHost = options.proxyHost ?? "127.0.0.1";
  const v6 = proxyHost.includes(":");
  const socket = createSocket(v6 ? "udp6" : "udp4");
  socket.bind(0, options.localAddress ?? (v6 ? "::1" : "127.0.0.1"));
  await once(socket, "listening");
  const control = connect({ host: proxyHost, port: proxyPort });
  control.on("error", () => undefined);
  try {
    await once(control, "connect");
    const user = options.user;
    control.write(Buffer.from(user === undefined ? [5, 1, 0] : [5, 1, 2]));
    const method = await readBytes(control, 2);
    if (user !== undefined) {
      if (method[1] !== 2) throw new Error(`method ${method.toString("hex")}`);
      const name = Buffer.from(user);
      const pass = Buffer.from(options.password ?? "");
      control.write(Buffer.concat([Buffer.from([1, name.length]), name, Buffer.from([pass.length]), pass]));
      const status = await readBytes(control, 2);
      if (status[1] !== 0) throw new Error(`login refused: ${status.toString("hex")}`);
    }
    const declared = options.declarePort === false ? 0 : socket.address().port;
    const request = v6
      ? Buffer.concat([Buffer.from([5, 3, 0, 4]), Buffer.alloc(16), portBytes(declared)])
      : Buffer.concat([Buffer.from([5, 3, 0, 1, 0, 0, 0, 0]), portBytes(declared)]);
    control.write(request);
    const reply = await readReply(control);
    if (reply.code !== 0) throw new AssociationRefused(reply.code);
    return client(control, socket, reply.address.host, reply.port);
  } catch (error) {
    control.destroy();
    socket.close();
    throw error;
  }
}

function client(control: Socket, socket: UdpSocket, relayHost: string, relayPort: number): UdpAssociationClient {
  const unread: RelayedDatagram[] = [];
  const waiters: (() => void)[] = [];
  let closed = false;
  socket.on("message", (message: Buffer, from: RemoteInfo) => {
    if (from.port !== relayPort) return;
    const header = parseUdpHeader(message);
    if (!header.ok) throw new Error(`the relay sent a bad header: ${message.subarray(0, 24).toString("hex")}`);
    unread.push({ host: header.address.host, port: header.port, payload: message.subarray(header.length) });
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    control,
    socket,
    relayHost,
    relayPort,
    unread,
    send(host, port, payload, options = {}) {
      const bytes = serializeUdpDatagram(host, port, Buffer.from(payload), options);
      socket.send(bytes, relayPort, relayHost);
    },
    sendRaw(bytes) {
      socket.send(bytes, relayPort, relayHost);
    },
    async receive(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (unread.length === 0) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`no datagram from the relay within ${String(timeoutMs)} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return unread.shift()!;
    },
    close() {
      control.destroy();
      if (!closed) socket.close();
      closed = true;
    },
  };
}

/** The whole reply (10 bytes for IPv4, 22 for IPv6), however it arrives. */
function readReply(control: Socket, timeoutMs = 10_000): Promise<SocksReplyMessage> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no reply within ${String(timeoutMs)} ms`)), timeoutMs);
    const onData = (data: Buffer): void => {
      buffered = Buffer.concat([buffered, data]);
      const parsed = parseReply(buffered);
      if (parsed !== undefined) finish(undefined, parsed.value);
    };
    const onClose = (): void => finish(new Error(`closed after ${buffered.toString("hex")}`));
    function finish(error: Error | undefined, reply?: SocksReplyMessage): void {
      clearTimeout(timer);
      control.off("data", onData);
      control.off("close", onClose);
      if (reply !== undefined) resolve(reply);
      else reject(error!);
    }
    control.on("data", onData);
    control.once("close", onClose);
  });
}

function portBytes(port: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16BE(port);
  return bytes;
}

/** A UDP echo server that counts what it received. */
export async function startUdpEcho(
  host = "127.0.0.1",
): Promise<{ port: number; received: () => number; close(): void }> {
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  let received = 0;
  socket.on("message", (message: Buffer, from: RemoteInfo) => {
    received++;
    socket.send(message, from.port, from.address);
  });
  socket.bind(0, host);
  await once(socket, "listening");
  return { port: socket.address().port, received: () => received, close: () => socket.close() };
}

/** A DNS query for `name` (type A), as a resolver would send it. */
export function dnsQuery(name: string, id: number): Buffer {
  const labels = name.split(".").map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // recursion desired
  header.writeUInt16BE(1, 4); // one question
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The IPv4 addresses in a DNS answer's A records (answers right after the one question). */
export function dnsAnswerAddresses(message: Buffer): string[] {
  const answers = message.readUInt16BE(6);
  let offset = 12;
  while (message[offset] !== 0) offset += message[offset]! + 1;
  offset += 5;
  const found: string[] = [];
  for (let i = 0; i < answers; i++) {
    offset += (message[offset]! & 0xc0) === 0xc0 ? 2 : 0;
    const type = message.readUInt16BE(offset);
    const length = message.readUInt16BE(offset + 8);
    if (type === 1 && length === 4) found.push([...message.subarray(offset + 10, offset + 14)].join("."));
    offset += 10 + length;
  }
  return found;
}
