import { Socket, createServer, isIPv4, isIPv6 } from "node:net";
import type { AuthEvent, SessionRecord } from "@gatehouse-proxy/core/engine";
import type { AuthProvider, AuthRequest, AuthResult } from "@gatehouse-proxy/core";
import { RawClient } from "./raw-client.js";
import type { TestProxy } from "./proxy.js";

/**
 * Byte builders and readers for SOCKS5 written independently of the engine's own
 * serializers, so a codec bug cannot hide itself in the tests.
 */

export const NO_AUTH = 0x00;
export const GSSAPI = 0x01;
export const USER_PASS = 0x02;

export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

export function greeting(methods: readonly number[], version = 0x05): Buffer {
  return Buffer.from([version, methods.length, ...methods]);
}

/** RFC 1929 sub-negotiation from raw bytes (or UTF-8 strings). */
export function credentials(username: Uint8Array | string, password: Uint8Array | string, version = 0x01): Buffer {
  const user = typeof username === "string" ? Buffer.from(username, "utf8") : Buffer.from(username);
  const pass = typeof password === "string" ? Buffer.from(password, "utf8") : Buffer.from(password);
  if (user.length > 255 || pass.length > 255) throw new RangeError("RFC 1929 fields are at most 255 bytes");
  return Buffer.concat([Buffer.from([version, user.length]), user, Buffer.from([pass.length]), pass]);
}

function portBytes(port: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(port);
  return out;
}

/** A request with an IPv4 or IPv6 literal (ATYP 1 / 4) or, with `asDomain`, ATYP 3. */
export function request(command: number, host: string, port: number, asDomain = false): Buffer {
  let address: Buffer;
  if (!asDomain && isIPv4(host)) {
    address = Buffer.from([0x01, ...host.split(".").map(Number)]);
  } else if (!asDomain && isIPv6(host)) {
    address = Buffer.concat([Buffer.from([0x04]), ipv6Bytes(host)]);
  } else {
    const name = Buffer.from(host, "utf8");
    address = Buffer.concat([Buffer.from([0x03, name.length]), name]);
  }
  return Buffer.concat([Buffer.from([0x05, command, 0x00]), address, portBytes(port)]);
}

/** A request whose ATYP and address bytes are given verbatim (for malformed requests). */
export function rawRequest(command: number, atyp: number, addressAndPort: readonly number[]): Buffer {
  return Buffer.from([0x05, command, 0x00, atyp, ...addressAndPort]);
}

function ipv6Bytes(host: string): Buffer {
  const [head = "", tail] = host.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((group, index) => out.writeUInt16BE(parseInt(group, 16), index * 2));
  return out;
}

export interface Reply {
  readonly raw: Buffer;
  readonly version: number;
  readonly code: number;
  readonly reserved: number;
  readonly atyp: number;
  readonly address: string;
  readonly port: number;
}

/**
 * Reads one SOCKS5 reply as a fixed-size client (kumod) would: 4 header bytes, then the
 * address its ATYP announces. Fails for an ATYP other than 1, 3 or 4.
 */
export async function readReply(client: RawClient, timeoutMs = 3000): Promise<Reply> {
  const head = await client.read(4, timeoutMs);
  const atyp = head[3]!;
  let rest: Buffer;
  let address: string;
  if (atyp === 0x01) {
    rest = await client.read(6, timeoutMs);
    address = [...rest.subarray(0, 4)].join(".");
  } else if (atyp === 0x04) {
    rest = await client.read(18, timeoutMs);
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(rest.readUInt16BE(i * 2).toString(16));
    address = groups.join(":");
  } else if (atyp === 0x03) {
    const length = (await client.read(1, timeoutMs))[0]!;
    rest = Buffer.concat([Buffer.from([length]), await client.read(length + 2, timeoutMs)]);
    address = rest.subarray(1, 1 + length).toString("utf8");
  } else {
    throw new Error(`reply with unknown ATYP ${String(atyp)}: ${head.toString("hex")}`);
  }
  return {
    raw: Buffer.concat([head, rest]),
    version: head[0]!,
    code: head[1]!,
    reserved: head[2]!,
    atyp,
    address,
    port: rest.readUInt16BE(rest.length - 2),
  };
}

/** The engine's peer string for a client socket (IPv4 as `ip:port`, IPv6 as `[ip]:port`). */
export function peerOf(socket: Socket): string {
  const address = socket.localAddress ?? "";
  const port = String(socket.localPort ?? 0);
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * A raw client plus where the proxy's records stood before it connected: ephemeral ports
 * are reused, so a record is this connection's only if it has its peer AND came later.
 */
export interface Conn {
  readonly client: RawClient;
  readonly peer: string;
  readonly sessionsFrom: number;
  readonly authEventsFrom: number;
}

export async function connectClient(proxy: TestProxy, port = proxy.port, host = "127.0.0.1"): Promise<Conn> {
  const sessionsFrom = proxy.sessions.length;
  const authEventsFrom = proxy.authEvents.length;
  const client = await RawClient.connect(port, host);
  return { client, peer: peerOf(client.socket), sessionsFrom, authEventsFrom };
}

/** Waits for the session record of this connection (sessions end in any order). */
export async function sessionOf(
  proxy: TestProxy,
  conn: Pick<Conn, "peer" | "sessionsFrom">,
  timeoutMs = 3000,
): Promise<SessionRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = proxy.sessions.slice(conn.sessionsFrom).find((record) => record.peer === conn.peer);
    if (found !== undefined) return found;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`no session record for ${conn.peer}`);
    await proxy.sessionsEnded(proxy.sessions.length + 1, remaining).catch(() => undefined);
  }
}

/** Every auth event recorded for this connection. */
export function authEventsOf(proxy: TestProxy, conn: Conn): AuthEvent[] {
  return proxy.authEvents.slice(conn.authEventsFrom).filter((event) => event.peer === conn.peer);
}

/** Every string anywhere inside a value (object keys included), for secret scanning. */
export function allStrings(value: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (typeof value === "string") {
    out.push(value);
  } else if (typeof value === "object" && value !== null && !seen.has(value)) {
    seen.add(value);
    if (value instanceof Error) {
      out.push(value.name, value.message, value.stack ?? "");
    }
    for (const [key, inner] of Object.entries(value)) {
      out.push(key);
      allStrings(inner, out, seen);
    }
  }
  return out;
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
  readonly settled: boolean;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  let settled = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = (value) => {
      settled = true;
      res(value);
    };
    reject = (error) => {
      settled = true;
      rej(error instanceof Error ? error : new Error(String(error)));
    };
  });
  return {
    promise,
    resolve,
    reject,
    get settled() {
      return settled;
    },
  };
}

/** Lets every already-queued callback (timers due now, I/O, promise jobs) run. */
export async function flushEventLoop(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Resolves true when the IPv6 loopback can be bound here. */
export function ipv6LoopbackAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}

export interface ProviderCall {
  readonly request: AuthRequest;
  readonly signal: AbortSignal;
  readonly answer: Deferred<unknown>;
}

/**
 * A provider that answers only when the test says so: each call is queued with a Deferred
 * the test resolves or rejects; `nextCall()` waits for the next call to arrive.
 */
export function manualProvider(name = "manual"): {
  readonly provider: AuthProvider;
  readonly calls: ProviderCall[];
  nextCall(timeoutMs?: number): Promise<ProviderCall>;
} {
  const calls: ProviderCall[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  return {
    calls,
    provider: {
      name,
      authenticate(request, signal) {
        const answer = deferred<unknown>();
        calls.push({ request, signal, answer });
        wake?.();
        return answer.promise as Promise<AuthResult>;
      },
    },
    async nextCall(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (calls.length <= taken) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error("the provider was not called");
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return calls[taken++]!;
    },
  };
}

/** Awaits a promise, failing with a clear message after `ms` instead of hanging the run. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${String(ms)} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SocketWrite {
  readonly localPort: number | undefined;
  readonly remotePort: number | undefined;
  readonly bytes: Buffer;
}

/**
 * Records, in order, every write made on any net.Socket in this process (the in-process
 * engine's included) until `restore()`. Two writes on different sockets cannot be ordered
 * from the outside by arrival time (the event loop may see them in either order), but
 * their call order here is exact.
 */
export function recordSocketWrites(): { readonly writes: SocketWrite[]; restore(): void } {
  const writes: SocketWrite[] = [];
  const prototype = Socket.prototype as unknown as Record<string, unknown>;
  const had = Object.hasOwn(prototype, "write");
  const original = prototype["write"] as (...args: unknown[]) => boolean;
  prototype["write"] = function (this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
    writes.push({
      localPort: this.localPort,
      remotePort: this.remotePort,
      bytes: typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array),
    });
    return original.call(this, chunk, ...rest);
  };
  return {
    writes,
    restore() {
      if (had) prototype["write"] = original;
      else delete prototype["write"];
    },
  };
}
