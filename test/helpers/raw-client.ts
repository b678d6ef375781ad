import { connect } from "node:net";
import type { Socket } from "node:net";
import { once } from "node:events";

/**
 * A byte-level SOCKS client for what no real client sends: split, pipelined or malformed
 * handshakes. Reads are exact: `read(n)` waits for exactly n bytes or fails.
 */
export class RawClient {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private closed = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("error", (error) => {
      this.error = error;
      this.notify();
    });
    socket.on("close", () => {
      this.closed = true;
      this.notify();
    });
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    const socket = connect({ port, host, allowHalfOpen: true });
    await once(socket, "connect");
    socket.setNoDelay(true);
    return new RawClient(socket);
  }

  send(bytes: Uint8Array | readonly number[]): void {
    this.socket.write(Buffer.from(bytes as Uint8Array));
  }

  /** Sends one byte per write, pausing so each arrives in its own segment. */
  async sendSlowly(bytes: Uint8Array | readonly number[], gapMs = 5): Promise<void> {
    for (const byte of Buffer.from(bytes as Uint8Array)) {
      this.socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  }

  async read(length: number, timeoutMs = 3000): Promise<Buffer> {
    await this.waitFor(() => this.buffered.length >= length || this.ended || this.closed, timeoutMs);
    if (this.buffered.length < length) {
      throw new Error(
        `expected ${String(length)} bytes, got ${String(this.buffered.length)} (${this.buffered.toString("hex")}) then EOF`,
      );
    }
    const out = this.buffered.subarray(0, length);
    this.buffered = this.buffered.subarray(length);
    return out;
  }

  /** Everything until the proxy ends the connection. */
  async readToEnd(timeoutMs = 3000): Promise<Buffer> {
    await this.waitFor(() => this.ended || this.closed, timeoutMs);
    const out = this.buffered;
    this.buffered = Buffer.alloc(0);
    return out;
  }

  /** Bytes received but not yet read. */
  get unread(): Buffer {
    return this.buffered;
  }

  get isClosedByPeer(): boolean {
    return this.ended || this.closed || this.error !== undefined;
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    await this.waitFor(() => this.ended || this.closed || this.error !== undefined, timeoutMs);
  }

  /** Resolves false if nothing arrived within the time. */
  async nothingWithin(ms: number): Promise<boolean> {
    try {
      await this.waitFor(() => this.buffered.length > 0 || this.ended || this.closed, ms);
      return false;
    } catch {
      return true;
    }
  }

  endWrite(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out after ${String(timeoutMs)} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
