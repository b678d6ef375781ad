// The relay end to end, against each relay (JS and splice): half-close both ways, byte counts,
// resets, idle and FIN-wait bounds, and backpressure (the proxy runs in a child process so its
// RSS can be sampled).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import type { Socket } from "node:net";
import { serializeGreeting, serializeRequest, serializeUserPass, Command } from "@gatehouse-proxy/core/engine";
import type { AuthProvider } from "@gatehouse-proxy/core";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { startRecordingServer } from "../helpers/destinations.js";
import type { RecordingServer } from "../helpers/destinations.js";
import { startChildProxy } from "../helpers/child-proxy.js";
import type { ChildProxy } from "../helpers/child-proxy.js";
import {
  closedWithin,
  connectTcp,
  delay,
  endedWithin,
  finishedWithin,
  openTunnel,
  readExactly,
} from "../helpers/socks-tunnel.js";
import { peerOf, recordOf } from "../helpers/records.js";
import { ManualClock, WHEEL_RESOLUTION_MS, until } from "../helpers/simulated-time.js";
import { RELAYS } from "../helpers/relays.js";

const MiB = 1024 * 1024;

/** Deterministic, non-repeating-looking payload of `length` bytes. */
function payload(length: number, seed: number): Buffer {
  const out = Buffer.alloc(Math.ceil(length / 4) * 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out.subarray(0, length);
}

const kib = (value: number): number => Math.round(value / 1024);
const sha = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** Writes `data` in chunks, honouring backpressure, optionally pausing between chunks. */
async function writeAll(socket: Socket, data: Buffer, chunkSize = 64 * 1024, gapMs = 0): Promise<void> {
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    if (!socket.write(data.subarray(offset, offset + chunkSize))) await once(socket, "drain");
    if (gapMs > 0) await delay(gapMs);
  }
}

/** Collects everything until 'end' (a FIN); rejects on a close without FIN or after the deadline. */
function collectUntilEnd(socket: Socket, timeoutMs = 10_000): Promise<Buffer> {
  const collected = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`${why} after ${Buffer.concat(chunks).length} bytes`));
    };
    const timer = setTimeout(() => fail(`no FIN within ${timeoutMs} ms`), timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.once("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.once("close", () => fail("closed without FIN"));
  });
  collected.catch(() => undefined); // a failure surfaces where the test awaits it
  return collected;
}

for (const relay of RELAYS) {
  describe(`relay: ${relay}`, () => {
    describe("half-close", () => {
      let proxy: TestProxy;
      before(async () => {
        proxy = await startProxy({ relay });
      });
      after(async () => {
        await proxy.close();
      });

      it("the client sends, shuts down its write side, and still receives the whole response", async () => {
        const request = payload(1 * MiB, 1);
        const responseSize = 8 * MiB;
        let destSawEnd = false;
        const dest = await startRecordingServer("127.0.0.1", (socket) => {
          // Reads until EOF, then answers with a large response derived from what it read.
          collectUntilEnd(socket).then(
            (received) => {
              destSawEnd = true;
              const digest = Buffer.from(sha(received), "hex");
              const body = payload(responseSize - digest.length, 2);
              socket.write(digest);
              void writeAll(socket, body).then(() => socket.end());
            },
            () => socket.destroy(),
          );
        });
        try {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", dest.port);
          const peer = peerOf(socket);
          const response = collectUntilEnd(socket);
          await writeAll(socket, request);
          socket.end();
          const received = await response;
          assert.ok(destSawEnd, "the destination saw the client's FIN");
          assert.equal(received.length, responseSize);
          assert.equal(received.subarray(0, 32).toString("hex"), sha(request), "the destination got every byte");
          assert.ok(received.subarray(32).equals(payload(responseSize - 32, 2)), "the response arrived intact");
          await closedWithin(socket, 3000);
          const record = await recordOf(proxy, peer);
          assert.equal(record.reason, "completed");
          assert.equal(record.bytesClientToDest, request.length);
          assert.equal(record.bytesDestToClient, responseSize);
        } finally {
          await dest.close();
        }
      });

      it("the destination ends first; the client keeps sending, then both close", async () => {
        const upload = payload(2 * MiB, 3);
        const greeting = Buffer.from("bye from the destination\n");
        let destReceived: Promise<Buffer> | undefined;
        let destSocket: Socket | undefined;
        const dest = await startRecordingServer("127.0.0.1", (socket) => {
          destSocket = socket;
          destReceived = collectUntilEnd(socket);
          socket.end(greeting); // FIN first, but keeps reading
        });
        try {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", dest.port);
          const peer = peerOf(socket);
          const fromDest = await collectUntilEnd(socket);
          assert.ok(fromDest.equals(greeting));
          assert.ok(socket.writable, "the client may still write after the destination's FIN");
          // Keep sending after the FIN, in pieces spread over time.
          await writeAll(socket, upload, 256 * 1024, 20);
          socket.end();
          const received = await destReceived!;
          assert.equal(received.length, upload.length);
          assert.equal(sha(received), sha(upload));
          await Promise.all([closedWithin(socket, 3000), closedWithin(destSocket!, 3000)]);
          const record = await recordOf(proxy, peer);
          assert.equal(record.reason, "completed");
          assert.equal(record.bytesClientToDest, upload.length);
          assert.equal(record.bytesDestToClient, greeting.length);
        } finally {
          await dest.close();
        }
      });
    });

    describe("half-close before the CONNECT reply (the FIN arrives while the proxy dials)", () => {
      const allowAll: AuthProvider = { name: "allow-all", authenticate: () => Promise.resolve(true) };
      let proxy: TestProxy;
      let dest: RecordingServer;
      before(async () => {
        proxy = await startProxy({ auth: { provider: allowAll }, relay });
        // Reads the request until EOF, then answers and ends.
        dest = await startRecordingServer("127.0.0.1", (socket) => {
          collectUntilEnd(socket, 5000).then(
            (request) => socket.end(`got ${request.toString()}`),
            () => socket.destroy(),
          );
        });
      });
      after(async () => {
        await Promise.all([proxy.close(), dest.close()]);
      });

      /** Sends `prefix` + "request" + FIN in one write; returns everything the client receives. */
      async function sendWithFin(prefix: Buffer[]): Promise<{ received: Buffer; peer: string }> {
        const socket = await connectTcp(proxy.port);
        const peer = peerOf(socket);
        const received = collectUntilEnd(socket, 4000).catch(() => Buffer.from("(no EOF)"));
        socket.end(Buffer.concat([...prefix, Buffer.from("request")]));
        return { received: await received, peer };
      }

      it("greeting, CONNECT, payload and FIN in one packet: the response still comes back", async () => {
        const { received, peer } = await sendWithFin([
          serializeGreeting([0]),
          serializeRequest(Command.Connect, "127.0.0.1", dest.port),
        ]);
        const record = await recordOf(proxy, peer);
        assert.equal(received.subarray(12).toString(), "got request", `received ${received.toString("hex")}`);
        assert.equal(record.reason, "completed");
      });

      it("after the method reply, CONNECT + payload + FIN: the response still comes back", async () => {
        const socket = await connectTcp(proxy.port);
        const peer = peerOf(socket);
        socket.write(serializeGreeting([0]));
        assert.equal((await readExactly(socket, 2)).toString("hex"), "0500");
        const received = collectUntilEnd(socket, 4000).catch(() => Buffer.from("(no EOF)"));
        socket.end(Buffer.concat([serializeRequest(Command.Connect, "127.0.0.1", dest.port), Buffer.from("request")]));
        const all = await received;
        const record = await recordOf(proxy, peer);
        assert.equal(all.subarray(10).toString(), "got request", `received ${all.toString("hex")}`);
        assert.equal(record.reason, "completed");
      });

      it("greeting, credentials, CONNECT, payload and FIN in one packet: the response still comes back", async () => {
        const { received, peer } = await sendWithFin([
          serializeGreeting([2]),
          serializeUserPass(Buffer.from("user"), Buffer.from("password")),
          serializeRequest(Command.Connect, "127.0.0.1", dest.port),
        ]);
        const record = await recordOf(proxy, peer);
        assert.equal(received.subarray(14).toString(), "got request", `received ${received.toString("hex")}`);
        assert.equal(record.reason, "completed");
      });
    });

    describe("byte counts and resets", () => {
      let proxy: TestProxy;
      let dest: RecordingServer;
      before(async () => {
        proxy = await startProxy({ relay });
        dest = await startRecordingServer("127.0.0.1", () => undefined);
      });
      after(async () => {
        await Promise.all([proxy.close(), dest.close()]);
      });

      it("counts each direction exactly, including payload pipelined behind the request", async () => {
        const early = payload(1000, 4);
        const later = payload(300_000, 5);
        const answer = payload(123_457, 6);
        const socket = await connectTcp(proxy.port);
        const peer = peerOf(socket);
        // Greeting, CONNECT and the first payload in one packet.
        socket.write(
          Buffer.concat([serializeGreeting([0]), serializeRequest(Command.Connect, "127.0.0.1", dest.port), early]),
        );
        const destSocket = await dest.nextConnection();
        const destGot = collectUntilEnd(destSocket);
        const head = await readExactly(socket, 12);
        assert.equal(head.subarray(0, 6).toString("hex"), "050005000001", "method selection then a success reply");
        await writeAll(socket, later);
        socket.end();
        const clientGot = collectUntilEnd(socket);
        await writeAll(destSocket, answer);
        destSocket.end();
        assert.equal(sha(await destGot), sha(Buffer.concat([early, later])));
        assert.equal(sha(await clientGot), sha(answer));
        const record = await recordOf(proxy, peer);
        assert.equal(record.bytesClientToDest, early.length + later.length);
        assert.equal(record.bytesDestToClient, answer.length);
        assert.equal(record.reason, "completed");
        assert.equal(record.relay, relay, "the tunnel ran on the relay under test");
        const logged = proxy.logs.find((line) => line.fields.event === "session_end" && line.fields.peer === peer);
        assert.ok(logged, "a session_end log line");
        assert.equal(logged.fields.bytes_client_to_dest, early.length + later.length);
        assert.equal(logged.fields.bytes_dest_to_client, answer.length);
      });

      it("a client reset closes the destination leg promptly", async () => {
        const { socket } = await openTunnel(proxy.port, "127.0.0.1", dest.port);
        const peer = peerOf(socket);
        const destSocket = await dest.nextConnection();
        socket.write("some data");
        await once(destSocket, "data");
        socket.resetAndDestroy();
        const elapsed = await finishedWithin(destSocket, 2000);
        assert.ok(elapsed < 1000, `destination saw the end after ${elapsed} ms`);
        const record = await recordOf(proxy, peer);
        assert.match(record.reason, /^client_(error:ECONNRESET|closed)$/);
      });

      it("a destination reset closes the client leg promptly", async () => {
        const { socket } = await openTunnel(proxy.port, "127.0.0.1", dest.port);
        const peer = peerOf(socket);
        socket.on("error", () => undefined);
        const destSocket = await dest.nextConnection();
        destSocket.write("hello");
        await once(socket, "data");
        destSocket.resetAndDestroy();
        const elapsed = await finishedWithin(socket, 2000);
        assert.ok(elapsed < 1000, `client saw the end after ${elapsed} ms`);
        const record = await recordOf(proxy, peer);
        assert.match(record.reason, /^dest_(error:ECONNRESET|closed)$/);
      });
    });

    describe("idle and FIN-wait bounds, in simulated time", () => {
      const IDLE_MS = 400;
      const clock = new ManualClock();
      let proxy: TestProxy;
      let echo: RecordingServer;
      before(async () => {
        proxy = await startProxy({ listeners: [{ idle_timeout: "400ms", fin_wait_timeout: "400ms" }], clock, relay });
        echo = await startRecordingServer("127.0.0.1");
      });
      after(async () => {
        await Promise.all([proxy.close(), echo.close()]);
      });

      /**
       * The splice relay reports a FIN to the engine from its own thread, asynchronously: the FIN
       * may reach the other peer first. The FIN-wait bound runs from the report, so let it land
       * before the simulated clock moves (the JS relay handles the FIN before passing it on).
       */
      const finReported = (): Promise<void> => (relay === "splice" ? delay(50) : Promise.resolve());

      /** Whether the proxy has ended this connection's session (it does so synchronously when a deadline fires). */
      const ended = (peer: string): boolean => proxy.sessions.some((record) => record.peer === peer);

      it("idle_timeout spares a busy tunnel and closes an idle one", async () => {
        const { socket } = await openTunnel(proxy.port, "127.0.0.1", echo.port);
        const peer = peerOf(socket);
        let echoed = 0;
        socket.on("data", (chunk: Buffer) => (echoed += chunk.length));
        const destSocket = await echo.nextConnection();
        // Traffic every 100 ms for 1.2 s: three idle periods long, never idle.
        for (let i = 1; i <= 12; i++) {
          socket.write("tick");
          await until(() => echoed === 4 * i, "the tick's echo");
          clock.advance(100);
        }
        assert.ok(!ended(peer) && !socket.destroyed && !socket.readableEnded, "a busy tunnel stays open");
        clock.advance(IDLE_MS - 100 - 1);
        assert.ok(!ended(peer), "closed before a whole idle period passed");
        // A check that saw the last tick moves the bound once more: two periods (each swept late) at most.
        clock.advance(2 * (IDLE_MS + 2 * WHEEL_RESOLUTION_MS));
        await Promise.all([finishedWithin(socket, 3000), finishedWithin(destSocket, 3000)]);
        assert.equal((await recordOf(proxy, peer)).reason, "idle_timeout");
      });

      it("fin_wait_timeout closes a half-closed tunnel once the open direction is quiet", async () => {
        const quiet = await startRecordingServer("127.0.0.1", (socket) => socket.resume()); // never answers, never ends
        try {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", quiet.port);
          const peer = peerOf(socket);
          socket.on("data", () => undefined);
          const destSocket = await quiet.nextConnection();
          const destEnded = endedWithin(destSocket, 3000);
          socket.end("last words");
          await destEnded;
          await finReported();
          clock.advance(IDLE_MS - 1);
          assert.ok(!ended(peer), "closed before the FIN-wait period passed");
          clock.advance(1 + 2 * WHEEL_RESOLUTION_MS);
          await finishedWithin(socket, 3000);
          assert.equal((await recordOf(proxy, peer)).reason, "fin_wait_timeout");
          // The destination leg is gone too: its writes are answered with a reset (EPIPE/ECONNRESET).
          const destClosed = closedWithin(destSocket, 2000);
          for (let i = 0; i < 20 && !destSocket.destroyed; i++) {
            destSocket.write("anyone there?");
            await delay(50);
          }
          await destClosed;
        } finally {
          await quiet.close();
        }
      });

      it("fin_wait_timeout also bounds a tunnel the destination half-closed", async () => {
        const leaver = await startRecordingServer("127.0.0.1", (socket) => {
          socket.resume();
          socket.end("bye");
        });
        try {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", leaver.port);
          const peer = peerOf(socket);
          assert.equal((await collectUntilEnd(socket)).toString(), "bye");
          await finReported();
          // The client neither writes nor ends: the proxy must not keep the tunnel forever.
          clock.advance(IDLE_MS - 1);
          assert.ok(!ended(peer), "closed before the FIN-wait period passed");
          clock.advance(1 + 2 * WHEEL_RESOLUTION_MS);
          const record = await recordOf(proxy, peer, 3000);
          assert.equal(record.reason, "fin_wait_timeout");
          // Our end sees the proxy go away: writing gets a reset.
          const clientClosed = closedWithin(socket, 2000);
          socket.on("error", () => undefined);
          for (let i = 0; i < 20 && !socket.destroyed; i++) {
            socket.write("anyone there?");
            await delay(50);
          }
          await clientClosed;
        } finally {
          await leaver.close();
        }
      });

      it("a half-closed tunnel whose open direction still moves data is not cut", async () => {
        const talker = await startRecordingServer("127.0.0.1", () => undefined);
        try {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", talker.port);
          const peer = peerOf(socket);
          const destSocket = await talker.nextConnection();
          let receivedBytes = 0;
          socket.on("data", (chunk: Buffer) => (receivedBytes += chunk.length));
          const received = collectUntilEnd(socket);
          socket.end();
          await endedWithin(destSocket, 3000);
          // The destination keeps talking for 1.2 s (three FIN-wait periods), then ends.
          const line = "still here\n";
          for (let i = 1; i <= 12; i++) {
            destSocket.write(line);
            await until(() => receivedBytes === line.length * i, "the line at the client");
            clock.advance(100);
          }
          assert.ok(!ended(peer), "a half-closed tunnel that moves data was cut");
          destSocket.end("done\n");
          const text = (await received).toString();
          assert.equal(text, `${line.repeat(12)}done\n`);
          assert.equal((await recordOf(proxy, peer)).reason, "completed");
        } finally {
          await talker.close();
        }
      });
    });

    describe("backpressure (proxy in a child process, RSS sampled)", () => {
      const TOTAL = 1024 * MiB;
      /** The slow side consumes at this rate (the relay alone moves ~600 MB/s here). */
      const READ_RATE = 256 * MiB;
      const MAX_GROWTH_KIB = 100 * 1024;
      let proxy: ChildProxy;

      before(async () => {
        proxy = await startChildProxy({ relay });
      });
      after(async () => {
        await proxy.stop();
      });

      /** Consumes a socket at `rate` bytes/s by pausing it; resolves with the count at EOF. */
      function slowSink(socket: Socket, rate: number, timeoutMs: number): Promise<number> {
        return new Promise((resolve, reject) => {
          let received = 0;
          const started = Date.now();
          const timer = setTimeout(() => {
            reject(new Error(`slow reader: only ${received} bytes within ${timeoutMs} ms`));
          }, timeoutMs);
          socket.on("data", (chunk: Buffer) => {
            received += chunk.length;
            const wait = started + (received / rate) * 1000 - Date.now();
            if (wait > 5) {
              socket.pause();
              setTimeout(() => socket.resume(), wait);
            }
          });
          socket.once("end", () => {
            clearTimeout(timer);
            resolve(received);
          });
        });
      }

      /** Writes `total` bytes as fast as the peer accepts them, then ends. */
      async function flood(socket: Socket, total: number): Promise<void> {
        const chunk = Buffer.alloc(256 * 1024, 0x5a);
        for (let sent = 0; sent < total; sent += chunk.length) {
          if (!socket.write(chunk)) await once(socket, "drain");
        }
        socket.end();
      }

      /** Samples the proxy's RSS every 50 ms while `work` runs; returns the peak growth in KiB. */
      async function peakGrowth(work: Promise<unknown>): Promise<{ baseline: number; growth: number }> {
        const baseline = proxy.rssKiB();
        let peak = baseline;
        const sampler = setInterval(() => {
          peak = Math.max(peak, proxy.rssKiB());
        }, 50);
        try {
          await work;
        } finally {
          clearInterval(sampler);
        }
        return { baseline, growth: Math.max(peak, proxy.rssKiB()) - baseline };
      }

      it("1 GiB client → slow destination: RSS stays bounded", async (t) => {
        let sink: Promise<number> | undefined;
        const dest = await startRecordingServer("127.0.0.1", (socket) => {
          sink = slowSink(socket, READ_RATE, 30_000).then((count) => {
            socket.end();
            return count;
          });
        });
        try {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", dest.port);
          const peer = peerOf(socket);
          socket.resume();
          await dest.nextConnection();
          const started = Date.now();
          const { baseline, growth } = await peakGrowth(Promise.all([flood(socket, TOTAL), sink!]));
          const elapsed = Date.now() - started;
          t.diagnostic(`${elapsed} ms; proxy RSS ${kib(baseline)} MiB, peak growth ${kib(growth)} MiB`);
          assert.equal(await sink!, TOTAL);
          assert.ok(growth < MAX_GROWTH_KIB, `proxy RSS grew by ${kib(growth)} MiB from ${kib(baseline)} MiB`);
          assert.ok(elapsed >= ((TOTAL / READ_RATE) * 1000) / 1.2, `the reader set the pace (${elapsed} ms)`);
          const line = await proxy.waitForLog((l) => l.event === "session_end" && l.peer === peer);
          assert.equal(line.bytes_client_to_dest, TOTAL);
          assert.equal(line.relay, relay);
        } finally {
          await dest.close();
        }
      });

      it("1 GiB destination → slow client: RSS stays bounded", async (t) => {
        let destDone: Promise<void> | undefined;
        const dest = await startRecordingServer("127.0.0.1", (socket) => {
          socket.resume();
          destDone = flood(socket, TOTAL);
        });
        try {
          const { socket } = await openTunnel(proxy.port, "127.0.0.1", dest.port);
          const peer = peerOf(socket);
          const sink = slowSink(socket, READ_RATE, 30_000);
          await dest.nextConnection();
          const started = Date.now();
          const { baseline, growth } = await peakGrowth(Promise.all([sink, destDone]));
          t.diagnostic(`${Date.now() - started} ms; proxy RSS ${kib(baseline)} MiB, peak growth ${kib(growth)} MiB`);
          socket.end();
          assert.equal(await sink, TOTAL);
          assert.ok(growth < MAX_GROWTH_KIB, `proxy RSS grew by ${kib(growth)} MiB from ${kib(baseline)} MiB`);
          const line = await proxy.waitForLog((l) => l.event === "session_end" && l.peer === peer);
          assert.equal(line.bytes_dest_to_client, TOTAL);
        } finally {
          await dest.close();
        }
      });
    });
  });
}
