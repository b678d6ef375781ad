import { once } from "node:events";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { readBytes } from "./socks-bytes.js";

export const SUCCEEDED = 0x00;
export const NOT_ALLOWED = 0x02;

export interface Attempt {
  /** The CONNECT reply code; "auth_failed" when the login was refused. */
  readonly result: number | "auth_failed";
  /** Open when the tunnel was granted (the caller ends it). */
  readonly socket: Socket;
}

export interface AttemptOptions {
  readonly user?: string;
  readonly password?: string;
  readonly localAddress?: string;
  /** Bytes sent before the greeting, in the same write (e.g. a PROXY protocol header). */
  readonly prefix?: Buffer;
}

/** A byte-level login (when `user` is given) and a CONNECT to 127.0.0.1:`port`, from `localAddress`. */
export async function attempt(proxyPort: number, port: number, options: AttemptOptions = {}): Promise<Attempt> {
  const socket = connect({ host: "127.0.0.1", port: proxyPort, localAddress: options.localAddress ?? "127.0.0.1" });
  socket.on("error", () => undefined);
  await once(socket, "connect");
  const withAuth = options.user !== undefined;
  const greeting = Buffer.from([5, 1, withAuth ? 2 : 0]);
  socket.write(options.prefix === undefined ? greeting : Buffer.concat([options.prefix, greeting]));
  await readBytes(socket, 2, 10_000);
  if (withAuth) {
    const user = Buffer.from(options.user ?? "");
    const pass = Buffer.from(options.password ?? "");
    socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
    const status = await readBytes(socket, 2, 10_000);
    if (status[1] !== 0) {
      socket.destroy();
      return { result: "auth_failed", socket };
    }
  }
  socket.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]));
  const reply = await readBytes(socket, 10, 10_000);
  if (reply[1] !== SUCCEEDED) socket.destroy();
  return { result: reply[1]!, socket };
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Resolves once `socket` has closed; rejects after `timeoutMs`. */
export function closed(socket: Socket, timeoutMs = 5000): Promise<void> {
  if (socket.destroyed && socket.readyState === "closed") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the tunnel is still open")), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
