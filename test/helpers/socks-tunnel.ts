import { once } from "node:events";
import { connect, isIPv6 } from "node:net";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Command, serializeRequest } from "@gatehouse-proxy/core/engine";

/** A SOCKS5 reply as it came off the wire. */
export interface SocksReply {
  readonly code: number;
  readonly atyp: number;
  readonly address: string;
  readonly port: number;
  readonly raw: Buffer;
}

/**
 * Reads exactly `length` bytes in paused mode (the socket's 'readable' event), so that
 * whatever follows stays buffered in the stream for the next reader; rejects on EOF,
 * error or timeout.
 */
export function readExactly(stream: Duplex, length: number, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      stream.off("readable", onReadable);
      stream.off("end", onEnd);
      stream.off("close", onEnd);
      stream.off("error", onError);
    };
    const onReadable = (): void => {
      const chunk = stream.read(length) as Buffer | null;
      if (chunk === null) return;
      cleanup();
      if (chunk.length < length) {
        reject(new Error(`expected ${length} bytes, got ${chunk.length} (${chunk.toString("hex")}) then EOF`));
      } else {
        resolve(chunk);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`EOF before ${length} bytes`));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${length} bytes`));
    }, timeoutMs);
    stream.on("readable", onReadable);
    stream.on("end", onEnd);
    stream.on("close", onEnd);
    stream.on("error", onError);
  });
}

/** Everything until the peer ends the stream (or it closes), with a deadline. */
export function readToEnd(stream: Duplex, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(() => {
      stream.off("end", done);
      stream.off("close", done);
      reject(new Error(`no EOF within ${timeoutMs} ms (got ${Buffer.concat(chunks).toString("hex")})`));
    }, timeoutMs);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", done);
    stream.once("close", done);
    stream.on("error", () => undefined);
  });
}

/** A plain TCP connection to the proxy, half-open allowed, Nagle off. */
export async function connectTcp(port: number, host = "127.0.0.1"): Promise<Socket> {
  const socket = connect({ port, host, allowHalfOpen: true, noDelay: true });
  await once(socket, "connect");
  return socket;
}

/** Greeting offering only "no authentication"; asserts the proxy picks it. */
export async function negotiateNoAuth(stream: Duplex): Promise<void> {
  stream.write(Buffer.from([5, 1, 0]));
  const selection = await readExactly(stream, 2);
  if (selection[0] !== 5 || selection[1] !== 0) throw new Error(`method selection ${selection.toString("hex")}`);
}

/** Reads one full reply (ATYP 1 or 4 only: anything else is an error here). */
export async function readReply(stream: Duplex, timeoutMs = 5000): Promise<SocksReply> {
  const head = await readExactly(stream, 4, timeoutMs);
  const atyp = head[3]!;
  if (head[0] !== 5 || head[2] !== 0 || (atyp !== 1 && atyp !== 4)) {
    throw new Error(`malformed reply head ${head.toString("hex")}`);
  }
  const rest = await readExactly(stream, atyp === 1 ? 6 : 18, timeoutMs);
  const addressBytes = rest.subarray(0, rest.length - 2);
  const address =
    atyp === 1
      ? [...addressBytes].join(".")
      : compressIPv6(Array.from({ length: 8 }, (_, i) => addressBytes.readUInt16BE(2 * i).toString(16)).join(":"));
  return { code: head[1]!, atyp, address, port: rest.readUInt16BE(rest.length - 2), raw: Buffer.concat([head, rest]) };
}

/** Sends one request (CONNECT by default) and reads its reply. */
export async function sendRequest(
  stream: Duplex,
  host: string,
  port: number,
  options: { command?: number; asDomainName?: boolean; timeoutMs?: number } = {},
): Promise<SocksReply> {
  stream.write(serializeRequest(options.command ?? Command.Connect, host, port, options.asDomainName ?? false));
  return readReply(stream, options.timeoutMs);
}

export interface Tunnel {
  readonly socket: Socket;
  readonly reply: SocksReply;
}

/** Connects, negotiates no-auth and sends a CONNECT; the reply may be a failure (check `reply.code`). */
export async function socksConnect(
  proxyPort: number,
  host: string,
  port: number,
  options: { proxyHost?: string; asDomainName?: boolean; timeoutMs?: number } = {},
): Promise<Tunnel> {
  const socket = await connectTcp(proxyPort, options.proxyHost);
  try {
    await negotiateNoAuth(socket);
    const reply = await sendRequest(socket, host, port, options);
    return { socket, reply };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Like socksConnect but fails unless the reply is 00. */
export async function openTunnel(
  proxyPort: number,
  host: string,
  port: number,
  options: { proxyHost?: string; asDomainName?: boolean } = {},
): Promise<Tunnel> {
  const tunnel = await socksConnect(proxyPort, host, port, options);
  if (tunnel.reply.code !== 0) {
    tunnel.socket.destroy();
    throw new Error(`CONNECT ${host}:${port} failed with reply ${tunnel.reply.raw.toString("hex")}`);
  }
  return tunnel;
}

/** `::1` style text for an address whose groups are given in full. */
export function compressIPv6(full: string): string {
  const groups = full.split(":").map((group) => group.replace(/^0+(?=.)/, ""));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(":");
  const head = groups.slice(0, bestStart).join(":");
  const tail = groups.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/** Normalises an address for comparison (IPv4-mapped IPv6 to IPv4, IPv6 compressed). */
export function normalizeAddress(address: string): string {
  if (address.startsWith("::ffff:") && !address.slice(7).includes(":")) return address.slice(7);
  if (!isIPv6(address)) return address;
  const [head = "", tail] = address.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - headGroups.length - tailGroups.length;
  const full = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill("0"), ...tailGroups];
  return compressIPv6(full.map((group) => parseInt(group, 16).toString(16)).join(":"));
}

/** Resolves when the stream closes; rejects after the deadline. Returns the elapsed milliseconds. */
export async function closedWithin(stream: Duplex, timeoutMs: number): Promise<number> {
  const started = Date.now();
  if (stream.destroyed && stream.closed) return 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`not closed within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return Date.now() - started;
}

/**
 * Resolves when the peer's FIN arrives ('end'); rejects on a close without FIN or after the
 * deadline. Set up before the FIN can arrive; the stream must be flowing for 'end' to fire.
 */
export function endedWithin(stream: Duplex, timeoutMs: number): Promise<void> {
  const ended = new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      stream.off("end", onEnd);
      stream.off("close", onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onEnd = (): void => settle();
    const onClose = (): void => settle(new Error("closed without FIN"));
    const timer = setTimeout(() => settle(new Error(`no FIN within ${timeoutMs} ms`)), timeoutMs);
    stream.on("end", onEnd);
    stream.on("close", onClose);
  });
  ended.catch(() => undefined); // a failure surfaces where the test awaits it
  return ended;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves when the peer has finished the stream: EOF ('end'), 'close' or an error (a reset);
 * returns the elapsed milliseconds. The stream must be flowing for 'end' to fire.
 */
export async function finishedWithin(stream: Duplex, timeoutMs: number): Promise<number> {
  const started = Date.now();
  if (stream.readableEnded || stream.destroyed) return 0;
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      stream.off("end", done);
      stream.off("close", done);
      stream.off("error", done);
      resolve();
    };
    const timer = setTimeout(() => {
      stream.off("end", done);
      stream.off("close", done);
      stream.off("error", done);
      reject(new Error(`no EOF, close or reset within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on("end", done);
    stream.on("close", done);
    stream.on("error", done);
  });
  return Date.now() - started;
}
