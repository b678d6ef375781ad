import { once } from "node:events";
import { createServer, connect } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with exactly these labels; undefined when absent. */
export function valueOf(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels);
  const found = samples.find(
    (sample) =>
      sample.name === name &&
      Object.keys(sample.labels).length === wanted.length &&
      wanted.every(([key, value]) => sample.labels[key] === value),
  );
  return found?.value;
}

/** A TCP echo server on 127.0.0.1:0. */
export async function startEchoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => undefined);
    socket.pipe(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port };
}

/** Reads exact byte counts from a socket. */
class Reader {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.();
    });
    socket.on("close", () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  async read(length: number): Promise<Buffer> {
    while (this.buffer.length < length) {
      if (this.ended) throw new Error(`connection closed after ${this.buffer.length} of ${length} bytes`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
    const head = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    return head;
  }
}

async function openSocket(port: number): Promise<{ socket: Socket; reader: Reader }> {
  const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  const reader = new Reader(socket);
  socket.on("error", () => undefined);
  await once(socket, "connect");
  return { socket, reader };
}

/** Greeting offering username/password, then the RFC 1929 exchange; returns the status byte. */
async function authenticate(reader: Reader, socket: Socket, username: string, password: string): Promise<number> {
  socket.write(Buffer.from([0x05, 0x01, 0x02]));
  const method = await reader.read(2);
  if (method[1] !== 0x02) throw new Error(`unexpected method ${method.toString("hex")}`);
  const user = Buffer.from(username);
  const pass = Buffer.from(password);
  socket.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]));
  const status = await reader.read(2);
  return status[1]!;
}

/** A full tunnel through the proxy to 127.0.0.1:destPort: sends `payload`, reads the echo, closes. */
export async function tunnelEcho(
  proxyPort: number,
  destPort: number,
  credentials: { username: string; password: string },
  payload: Buffer,
): Promise<Buffer> {
  const { socket, reader } = await openSocket(proxyPort);
  try {
    const status = await authenticate(reader, socket, credentials.username, credentials.password);
    if (status !== 0) throw new Error(`auth failed with status ${status}`);
    socket.write(Buffer.from([0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, destPort >> 8, destPort & 0xff]));
    const reply = await reader.read(10);
    if (reply[1] !== 0x00) throw new Error(`CONNECT failed with reply ${reply[1]}`);
    socket.write(payload);
    const echoed = await reader.read(payload.length);
    const closed = once(socket, "close");
    socket.end();
    await closed;
    return echoed;
  } finally {
    socket.destroy();
  }
}

/** An attempt the proxy refuses at the auth step; returns the RFC 1929 status byte. */
export async function failedAuth(proxyPort: number, username: string, password: string): Promise<number> {
  const { socket, reader } = await openSocket(proxyPort);
  try {
    const closed = once(socket, "close");
    const status = await authenticate(reader, socket, username, password);
    socket.end();
    await closed;
    return status;
  } finally {
    socket.destroy();
  }
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
