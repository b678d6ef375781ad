// The splice relay addon on real loopback tunnels: integrity, half-close, resets, backpressure,
// fd hygiene at 1 000 tunnels, live counts. Needs the addon built (a compiler at npm ci).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { nativeRelay, tuneAllocator, type NativeTunnel, type NativeTunnelState } from "@gatehouse-proxy/relay-native";
import { openFds, openTunnel, startServers, within, type Servers, type TunnelPair } from "./tunnel-pair.js";

const MiB = 1024 * 1024;

/** Writes `total` bytes of fresh random data in 1 MiB chunks, honouring backpressure; the sha256. */
async function send(socket: Socket, total: number, end = true): Promise<string> {
  const hash = createHash("sha256");
  for (let sent = 0; sent < total; sent += MiB) {
    const chunk = randomBytes(Math.min(MiB, total - sent));
    hash.update(chunk);
    if (!socket.write(chunk)) await once(socket, "drain");
  }
  if (end) socket.end();
  return hash.digest("hex");
}

/** Everything `socket` reads until its peer's FIN: byte count and sha256. */
async function receive(socket: Socket): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  socket.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  await once(socket, "end");
  return { bytes, sha256: hash.digest("hex") };
}

/** The socket's close event (`once` would reject on the error event that may precede it). */
function closeOf(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

/** Destroys the test's own legs and waits until they are closed (and the fd table has settled). */
async function destroyLegs(pairs: readonly TunnelPair[], closed: readonly Promise<void>[]): Promise<void> {
  for (const pair of pairs) {
    pair.client.destroy();
    pair.dest.destroy();
  }
  await Promise.all(closed);
  await delay(50);
}

/** Polls `counts()` until `done` holds: the relay thread updates the state on its own time. */
async function stateWhen(
  tunnel: NativeTunnel,
  done: (state: NativeTunnelState) => boolean,
  what: string,
): Promise<NativeTunnelState> {
  return within(
    (async () => {
      for (let state = tunnel.counts(); ; state = tunnel.counts()) {
        if (done(state)) return state;
        await delay(5);
      }
    })(),
    20_000,
    what,
  );
}

/** Polls `condition` until it holds (reports arrive on a later turn of the event loop). */
async function until(condition: () => boolean, what: string): Promise<void> {
  await within(
    (async () => {
      while (!condition()) await delay(5);
    })(),
    5_000,
    what,
  );
}

/** Two servers for two-tunnels.child.js to dial; their accepted sockets are the tunnels' peers. */
async function peerServers() {
  const clientSide = createServer({ allowHalfOpen: true });
  const destSide = createServer({ allowHalfOpen: true });
  for (const server of [clientSide, destSide]) {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  }
  const peers: Record<"client" | "dest", Socket[]> = { client: [], dest: [] };
  clientSide.on("connection", (socket: Socket) => peers.client.push(socket));
  destSide.on("connection", (socket: Socket) => peers.dest.push(socket));
  return {
    peers,
    ports: [clientSide, destSide].map((server) => String((server.address() as AddressInfo).port)),
    close() {
      for (const socket of [...peers.client, ...peers.dest]) socket.destroy();
      clientSide.close();
      destSide.close();
    },
  };
}

const twoTunnels = new URL("./two-tunnels.child.js", import.meta.url);
const starve = new URL("./starve.child.js", import.meta.url);

describe("native splice relay", () => {
  let servers: Servers;
  before(async () => {
    assert.equal(nativeRelay.available, true, nativeRelay.available ? "" : nativeRelay.reason);
    servers = await startServers();
  });
  after(() => servers.close());

  it("relays 64 MiB each way at once, byte for byte, with exact counts", async () => {
    const pair = await openTunnel(servers);
    const size = 64 * MiB;
    const [upSent, downSent, atDest, atClient, end] = await within(
      Promise.all([
        send(pair.client, size),
        send(pair.dest, size),
        receive(pair.dest),
        receive(pair.client),
        pair.ended,
      ]),
      120_000,
      "128 MiB relayed",
    );
    assert.deepEqual(atDest, { bytes: size, sha256: upSent });
    assert.deepEqual(atClient, { bytes: size, sha256: downSent });
    assert.deepEqual(end, { reason: "completed", clientToDest: size, destToClient: size });
    assert.deepEqual(pair.tunnel.counts(), {
      clientToDest: size,
      destToClient: size,
      clientEnded: true,
      destEnded: true,
    });
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("half-close, client first: the client's FIN passes on and the whole response still arrives", async () => {
    const pair = await openTunnel(servers);
    const request = await send(pair.client, 3 * MiB);
    const atDest = await within(receive(pair.dest), 20_000, "the client's FIN at the destination");
    assert.deepEqual(atDest, { bytes: 3 * MiB, sha256: request });
    const atClient = receive(pair.client);
    const response = await send(pair.dest, 5 * MiB);
    assert.deepEqual(await within(atClient, 20_000, "the response"), { bytes: 5 * MiB, sha256: response });
    assert.equal((await within(pair.ended, 5_000, "the end report")).reason, "completed");
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("half-close, destination first: the client keeps sending after the destination's FIN", async () => {
    const pair = await openTunnel(servers);
    const atClient = receive(pair.client);
    const greeting = await send(pair.dest, 1 * MiB);
    assert.deepEqual(await within(atClient, 20_000, "the destination's FIN at the client"), {
      bytes: MiB,
      sha256: greeting,
    });
    const atDest = receive(pair.dest);
    const upload = await send(pair.client, 4 * MiB);
    assert.deepEqual(await within(atDest, 20_000, "the upload"), { bytes: 4 * MiB, sha256: upload });
    const end = await within(pair.ended, 5_000, "the end report");
    assert.deepEqual(end, { reason: "completed", clientToDest: 4 * MiB, destToClient: MiB });
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("counts() shows the client's half-close: clientEnded while the destination keeps sending, then both", async () => {
    const pair = await openTunnel(servers);
    assert.deepEqual(pair.tunnel.counts(), {
      clientToDest: 0,
      destToClient: 0,
      clientEnded: false,
      destEnded: false,
    });
    const request = await send(pair.client, 256 * 1024);
    // The relay reads the client's EOF before it passes the FIN on.
    assert.deepEqual(await within(receive(pair.dest), 20_000, "the client's FIN at the destination"), {
      bytes: 256 * 1024,
      sha256: request,
    });
    assert.deepEqual(pair.tunnel.counts(), {
      clientToDest: 256 * 1024,
      destToClient: 0,
      clientEnded: true,
      destEnded: false,
    });
    await until(() => pair.fins.length === 1, "the client's FIN reported to onFin");
    assert.deepEqual(pair.fins, ["client"]);
    const atClient = receive(pair.client);
    for (let index = 1; index <= 5; index++) {
      pair.dest.write(Buffer.alloc(64 * 1024, index));
      const state = await stateWhen(pair.tunnel, (now) => now.destToClient === index * 64 * 1024, "a response chunk");
      assert.equal(state.clientEnded, true);
      assert.equal(state.destEnded, false);
    }
    pair.dest.end();
    assert.equal((await within(atClient, 20_000, "the destination's FIN at the client")).bytes, 5 * 64 * 1024);
    assert.equal((await within(pair.ended, 5_000, "the end report")).reason, "completed");
    assert.deepEqual(pair.fins, ["client", "dest"], "each FIN reported once, in order");
    assert.deepEqual(pair.tunnel.counts(), {
      clientToDest: 256 * 1024,
      destToClient: 5 * 64 * 1024,
      clientEnded: true,
      destEnded: true,
    });
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("counts() shows the destination's half-close: destEnded while the client keeps sending, then both", async () => {
    const pair = await openTunnel(servers);
    const atClient = receive(pair.client);
    await send(pair.dest, 128 * 1024);
    await within(atClient, 20_000, "the destination's FIN at the client");
    assert.deepEqual(pair.tunnel.counts(), {
      clientToDest: 0,
      destToClient: 128 * 1024,
      clientEnded: false,
      destEnded: true,
    });
    const atDest = receive(pair.dest);
    for (let index = 1; index <= 5; index++) {
      pair.client.write(Buffer.alloc(64 * 1024, index));
      const state = await stateWhen(pair.tunnel, (now) => now.clientToDest === index * 64 * 1024, "an upload chunk");
      assert.equal(state.clientEnded, false);
      assert.equal(state.destEnded, true);
    }
    pair.client.end();
    await within(atDest, 20_000, "the client's FIN at the destination");
    await within(pair.ended, 5_000, "the end report");
    assert.deepEqual(pair.tunnel.counts(), {
      clientToDest: 5 * 64 * 1024,
      destToClient: 128 * 1024,
      clientEnded: true,
      destEnded: true,
    });
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("each end report reaches its own tunnel's onEnd (one report channel for all tunnels)", async () => {
    const pairs = [];
    for (let index = 0; index < 40; index++) pairs.push(await openTunnel(servers));
    // Distinct byte counts per tunnel, ended in reverse order of opening.
    for (let index = pairs.length - 1; index >= 0; index--) {
      const pair = pairs[index]!;
      pair.dest.resume();
      pair.dest.on("end", () => pair.dest.end(Buffer.alloc(index + 1, 1)));
      pair.client.resume();
      pair.client.end(Buffer.alloc(1000 * (index + 1), 2));
    }
    const reports = await within(Promise.all(pairs.map((pair) => pair.ended)), 30_000, "40 end reports");
    reports.forEach((end, index) => {
      assert.deepEqual(end, { reason: "completed", clientToDest: 1000 * (index + 1), destToClient: index + 1 });
    });
    for (const pair of pairs) {
      pair.client.destroy();
      pair.dest.destroy();
    }
  });

  it("keeps the process alive while a tunnel runs and lets it exit once none does", async () => {
    const sides = await peerServers();
    const child = spawn(process.execPath, [twoTunnels.pathname, ...sides.ports], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    try {
      assert.equal((await within(lines.next(), 20_000, "the child's tunnels")).value, "relaying");
      // The child holds no socket or timer now: only the relay's running tunnels keep it alive.
      const early = await Promise.race([exited.then(() => "exited"), delay(500).then(() => "running")]);
      assert.equal(early, "running", "the child exited while its tunnels ran");
      // Tunnel 1 ends on its own; the child then stops tunnel 2 with close().
      sides.peers.client[0]!.end();
      sides.peers.dest[0]!.end();
      assert.equal((await within(lines.next(), 10_000, "the first tunnel's end")).value, "ended");
      assert.equal(await within(exited, 10_000, "the child's exit with no tunnel left"), 0);
    } finally {
      child.kill();
      sides.close();
    }
  });

  it("a worker's tunnels relay on after the worker is gone; their ends are dropped, not delivered", async () => {
    const sides = await peerServers();
    // In a child process whose main thread never loads the addon: the worker is its only user.
    const host = spawn(
      process.execPath,
      [new URL("./worker-host.child.js", import.meta.url).pathname, ...sides.ports],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      host.once("exit", (code, signal) => resolve([code, signal])),
    );
    try {
      const lines = createInterface({ input: host.stdout })[Symbol.asyncIterator]();
      assert.equal((await within(lines.next(), 20_000, "the worker's tunnels, then its exit")).value, "worker gone");
      // Its env and threadsafe function are gone; the relay thread still moves the bytes.
      const [client, dest] = [sides.peers.client[0]!, sides.peers.dest[0]!];
      const atDest = receive(dest);
      const atClient = receive(client);
      const upload = await send(client, 2 * MiB);
      const download = await send(dest, 1 * MiB);
      assert.deepEqual(await within(atDest, 20_000, "the upload after the worker left"), {
        bytes: 2 * MiB,
        sha256: upload,
      });
      assert.deepEqual(await within(atClient, 20_000, "the download after the worker left"), {
        bytes: MiB,
        sha256: download,
      });
      // The second ends on a reset, with no env to report to: the relay closes its fds all the
      // same, so the destination's peer sees the FIN.
      const secondEnded = receive(sides.peers.dest[1]!);
      sides.peers.client[1]!.on("error", () => undefined);
      sides.peers.client[1]!.resetAndDestroy();
      await within(secondEnded, 10_000, "the second tunnel's end at its destination");
      // The relay thread drops both reports right after closing the fds: give it that moment
      // before asking the process to exit, so that a crash there would show.
      await delay(300);
      host.stdin.write("exit\n");
      assert.deepEqual(await within(exited, 10_000, "the host's exit"), [0, null]);
    } finally {
      host.kill();
      sides.close();
    }
  });

  for (const leg of ["dest", "client"] as const) {
    it(`a reset from the ${leg === "dest" ? "destination" : "client"} ends the tunnel promptly as ${leg}_closed`, async () => {
      const pair = await openTunnel(servers);
      const other = leg === "dest" ? pair.client : pair.dest;
      other.on("error", () => undefined);
      const otherGone = new Promise((resolve) => {
        other.once("end", resolve);
        other.once("close", resolve);
      });
      pair.client.write("hello");
      await once(pair.dest, "data");
      const started = performance.now();
      pair[leg].resetAndDestroy();
      const end = await within(pair.ended, 2_000, "the end report after a reset");
      assert.equal(end.reason, `${leg}_closed`);
      assert.equal(typeof end.error, "string");
      assert.equal(end.code, "ECONNRESET", "the errno's name, for the engine's end reason");
      assert.ok(performance.now() - started < 2_000);
      // The addon closed its side of the other leg, so that peer learns the tunnel is gone.
      await within(otherGone, 2_000, "the other leg's FIN or reset");
      pair.client.destroy();
      pair.dest.destroy();
    });
  }

  it("out of descriptors for a pipe, a tunnel waits (not fails) and relays once one can be had", async () => {
    const child = spawn(process.execPath, [fileURLToPath(starve)], { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<string> => String((await within(lines.next(), 10_000, "the child's line")).value);
    const setSoftLimit = (limit: number | string): void => {
      const result = spawnSync("prlimit", ["--pid", String(child.pid), `--nofile=${String(limit)}:`]);
      assert.equal(result.status, 0, result.stderr.toString());
    };
    try {
      assert.equal(await next(), "ready");
      // Not one descriptor left for pipe2() (the relay thread's one pooled pipe is about to be held
      // by the filled tunnel): the limit bounds descriptor numbers, so it goes to the lowest
      // number not in use.
      const inUse = new Set(readdirSync(`/proc/${String(child.pid)}/fd`).map(Number));
      let lowestFree = 0;
      while (inUse.has(lowestFree)) lowestFree++;
      setSoftLimit(lowestFree);
      child.stdin.write("send\n");
      assert.equal(await next(), "waiting 0", "nothing moves without a pipe");
      setSoftLimit(4096);
      child.stdin.write("go\n");
      assert.equal(await next(), `delivered ${String(64 * 1024)}`);
      assert.equal(await next(), "ended completed completed", "both tunnels ended normally");
    } finally {
      child.kill();
    }
  });

  it("a stopped reader holds memory flat while 256 MiB are offered (the pipe is the only buffer)", async () => {
    const pair = await openTunnel(servers);
    pair.dest.pause();
    const rssBefore = process.memoryUsage().rss;
    let accepted = 0;
    const offer = (async () => {
      const chunk = Buffer.alloc(MiB, 7);
      for (; accepted < 256 * MiB; accepted += MiB) {
        if (!pair.client.write(chunk)) await once(pair.client, "drain");
      }
    })();
    // Offer for 3 s: with backpressure the client is held back after a few MiB.
    await Promise.race([offer, delay(3_000)]);
    const delivered = pair.tunnel.counts().clientToDest;
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    assert.ok(accepted < 64 * MiB, `the client could write ${accepted} bytes into a stopped tunnel`);
    assert.ok(delivered < 32 * MiB, `${delivered} bytes went to a reader that reads nothing`);
    assert.ok(rssGrowth < 48 * MiB, `RSS grew by ${rssGrowth} bytes`);
    // Reading resumes: the held bytes flow again.
    pair.dest.resume();
    await within(
      (async () => {
        while (pair.tunnel.counts().clientToDest <= delivered) await delay(10);
      })(),
      5_000,
      "bytes flowing after the reader resumed",
    );
    pair.tunnel.close();
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("1 000 tunnels echoing at once, then all closed: the process's fd count returns to where it was", async () => {
    // One tunnel first: the relay thread's epoll and eventfd live as long as the process.
    const warm = await openTunnel(servers);
    warm.client.end();
    warm.dest.end();
    await within(warm.ended, 5_000, "the warm-up tunnel's end");
    warm.client.destroy();
    warm.dest.destroy();
    await delay(50);
    const baseline = openFds();

    const count = 1_000;
    const pairs = [];
    for (let index = 0; index < count; index++) pairs.push(await openTunnel(servers));
    const echoed = pairs.map(async (pair, index) => {
      pair.dest.on("data", (chunk: Buffer) => pair.dest.write(chunk));
      pair.dest.on("end", () => pair.dest.end());
      const message = Buffer.from(`tunnel ${index} `.repeat(64));
      const reply = receive(pair.client);
      pair.client.end(message);
      const { bytes } = await reply;
      assert.equal(bytes, message.length);
      return await pair.ended;
    });
    // Each resolves once its echo came back and its end report arrived.
    const reports = await within(Promise.all(echoed), 60_000, "1 000 echoes and end reports");
    assert.ok(reports.every((end) => end.reason === "completed"));
    // close() after the end is a no-op.
    for (const pair of pairs) pair.tunnel.close();
    await destroyLegs(
      pairs,
      pairs.flatMap((pair) => [closeOf(pair.client), closeOf(pair.dest)]),
    );
    assert.equal(openFds(), baseline);
  });

  it("close() stops a flowing tunnel at once, releases its fds, freezes counts and is idempotent", async () => {
    const warm = await openTunnel(servers);
    warm.tunnel.close();
    warm.client.destroy();
    warm.dest.destroy();
    await delay(50);
    const baseline = openFds();
    const pair = await openTunnel(servers);
    pair.dest.resume();
    pair.client.on("error", () => undefined);
    // Closing with unread bytes resets the client's connection: listen before that happens.
    const closed = [closeOf(pair.client), closeOf(pair.dest)];
    void send(pair.client, 32 * MiB).catch(() => undefined);
    while (pair.tunnel.counts().clientToDest === 0) await delay(5);
    let endCalled = false;
    void pair.ended.then(() => (endCalled = true));
    pair.tunnel.close();
    const frozen = pair.tunnel.counts();
    pair.tunnel.close();
    await delay(100);
    assert.deepEqual(pair.tunnel.counts(), frozen);
    assert.equal(endCalled, false);
    await destroyLegs([pair], closed);
    assert.equal(openFds(), baseline);
  });

  it("counts() moves while data flows", async () => {
    const pair = await openTunnel(servers);
    pair.dest.resume();
    const seen = new Set<number>();
    const sending = (async () => {
      for (let index = 0; index < 20; index++) {
        pair.client.write(Buffer.alloc(64 * 1024, index));
        await delay(20);
        seen.add(pair.tunnel.counts().clientToDest);
      }
      pair.client.end();
    })();
    await sending;
    pair.dest.end();
    const end = await within(pair.ended, 5_000, "the end report");
    assert.ok(seen.size >= 5, `counts() took only ${seen.size} values while 20 writes flowed`);
    assert.equal(end.clientToDest, 20 * 64 * 1024);
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("a second instance of the module in one thread says unavailable and leaves the end reports to the first", async () => {
    const url = `${import.meta.resolve("@gatehouse-proxy/relay-native")}?second-instance`;
    const second = (await import(url)) as typeof import("@gatehouse-proxy/relay-native");
    assert.equal(second.nativeRelay.available, false);
    assert.match(second.nativeRelay.reason, /end reports are taken/);
    const pair = await openTunnel(servers);
    pair.client.end();
    pair.dest.end();
    assert.equal((await within(pair.ended, 5_000, "the end report")).reason, "completed");
    pair.client.destroy();
    pair.dest.destroy();
  });

  it("tuneAllocator() applies on glibc", () => {
    const report = process.report.getReport() as { header: { glibcVersionRuntime?: string } };
    assert.equal(tuneAllocator(), report.header.glibcVersionRuntime !== undefined);
  });
});
