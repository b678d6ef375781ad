import "reflect-metadata";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { WebhookError } from "@gatehouse-proxy/auth-webhook";
import { closeProviders, noSignal, rejection, request, startServer, wire } from "../fixtures.js";
import type { TestServer } from "../fixtures.js";

const TIMEOUT_MS = 1500;
/** Generous: "an error within the deadline", on a loaded 2-core machine. */
const WITHIN_MS = TIMEOUT_MS + 2000;

function provider(url: string, extra: Record<string, unknown> = {}) {
  return wire({ url, insecure: true, timeout: TIMEOUT_MS, ...extra }).provider;
}

async function expectError(url: string, code: string, extra: Record<string, unknown> = {}) {
  const result = await rejection(() => provider(url, extra).authenticate(request("alice", "pw"), noSignal));
  assert.ok(result.error instanceof WebhookError, String(result.error));
  assert.equal(result.error.code, code, result.error.message);
  assert.ok(result.ms < WITHIN_MS, `${result.ms} ms`);
  return result;
}

/**
 * A child process that listens (backlog 1) and then blocks its event loop, so it never accepts:
 * once the kernel's queue is full, further connection attempts get no answer at all.
 */
function startNonAcceptingListener(): Promise<{ port: number; stop(): void }> {
  const script = `
    const server = require("node:net").createServer();
    server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
      process.stdout.write(String(server.address().port) + "\\n");
      setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 50);
    });`;
  return new Promise((resolve, reject) => {
    const child = spawn("setpriv", ["--pdeathsig", "KILL", process.execPath, "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.on("error", reject);
    child.stdout.setEncoding("utf8").once("data", (data: string) => {
      resolve({
        port: Number(data.trim()),
        stop: () => {
          if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
        },
      });
    });
  });
}

describe("misbehaving receivers: each an error within the deadline", () => {
  const servers: TestServer[] = [];
  const fillers: Socket[] = [];
  async function serve(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
    const server = await startServer(handler);
    servers.push(server);
    return server;
  }
  after(async () => {
    await closeProviders();
    for (const socket of fillers) socket.destroy();
    await Promise.all(servers.map((server) => server.close()));
  });

  it("a port that is bound but never accepts", async () => {
    const listener = await startNonAcceptingListener();
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Fill the accept queue so the provider's own connection attempt is not answered either.
      for (let i = 0; i < 4; i++) fillers.push(connect(listener.port, "127.0.0.1").on("error", () => undefined));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const { error } = await expectError(`http://127.0.0.1:${listener.port}/auth`, "timeout");
      assert.match(error.message, /within 1500 ms/);
    } finally {
      listener.stop();
    }
  });

  it("accepts, reads the request and never answers", async () => {
    const server = await serve(() => undefined);
    await expectError(server.url, "timeout");
    assert.equal(server.received.length, 1);
  });

  it("sends the status line and headers, then nothing", async () => {
    const server = await serve((_received, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      response.flushHeaders();
    });
    await expectError(server.url, "timeout");
  });

  it("trickles the body one byte at a time", async () => {
    let timer: NodeJS.Timeout | undefined;
    const server = await serve((_received, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      timer = setInterval(() => response.write(" "), 100);
      response.on("close", () => clearInterval(timer));
    });
    const { ms } = await expectError(server.url, "timeout");
    assert.ok(ms >= TIMEOUT_MS - 100, `gave up after ${ms} ms, before the deadline`);
    clearInterval(timer);
  });

  it("a 10 MiB body (chunked) fails at the size cap, without reading it all", async () => {
    let sent = 0;
    let closedEarly: Promise<boolean> = Promise.resolve(false);
    const server = await serve((_received, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      closedEarly = new Promise((resolve) => response.on("close", () => resolve(!response.writableFinished)));
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (sent < 10 * 1024 * 1024) {
          sent += chunk.length;
          if (!response.write(chunk)) {
            response.once("drain", pump);
            return;
          }
        }
        response.end();
      };
      pump();
    });
    const { error } = await expectError(server.url, "response_too_large", { timeout: "20s" });
    assert.match(error.message, /larger than 65536 bytes/);
    assert.equal(await closedEarly, true, "the connection was closed before the body ended");
    assert.ok(sent < 10 * 1024 * 1024, `the server got to send ${sent} bytes`);
  });

  it("a declared Content-Length over the cap fails before reading, and a smaller cap applies", async () => {
    const server = await serve((_received, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": String(10 * 1024 * 1024) });
      response.write("{");
    });
    await expectError(server.url, "response_too_large", { timeout: "20s" });
    const small = await serve((_received, response) => response.end(" ".repeat(100) + "true"));
    await expectError(small.url, "response_too_large", { max_response_bytes: 64 });
    assert.equal(
      await provider(small.url, { max_response_bytes: 128 }).authenticate(request("a", "b"), noSignal),
      true,
    );
  });

  it("a connection reset mid-body", async () => {
    const server = await serve((_received, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      response.write('{"identities": [');
      setTimeout(() => response.socket?.resetAndDestroy(), 50);
    });
    const { error } = await expectError(server.url, "network");
    assert.match(error.message, /^http:\/\/127\.0\.0\.1:\d+\/auth: .*(ECONNRESET|aborted|Premature close)/);
  });

  it("a connection closed before any answer is an error, and the request is not retried", async () => {
    const server = await serve((_received, response) => response.socket?.destroy());
    const hook = provider(server.url);
    await rejection(() => hook.authenticate(request("alice", "pw"), noSignal));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(server.received.length, 1, "sent once, never again");
  });

  it("the caller's signal aborts the exchange at once, with the caller's reason", async () => {
    const server = await serve(() => undefined);
    const controller = new AbortController();
    const reason = new Error("client left");
    setTimeout(() => controller.abort(reason), 100);
    const start = performance.now();
    await assert.rejects(
      provider(server.url, { timeout: "30s" }).authenticate(request("alice", "pw"), controller.signal),
      (error) => error === reason,
    );
    assert.ok(performance.now() - start < 2000);
  });

  it("an already aborted signal rejects with its reason, sends nothing and leaves no uncaught error", async () => {
    const server = await serve(() => undefined);
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", record);
    try {
      const controller = new AbortController();
      const reason = new Error("client left");
      controller.abort(reason);
      await assert.rejects(
        provider(server.url).authenticate(request("alice", "pw"), controller.signal),
        (error) => error === reason,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      process.off("uncaughtException", record);
    }
    assert.deepEqual(uncaught, []);
    assert.equal(server.received.length, 0);
  });
});

describe("health(): one connection to the receiver, no request", () => {
  after(closeProviders);

  it("resolves for a listening receiver without sending it anything", async () => {
    const server = await startServer(() => undefined);
    try {
      await provider(server.url).health!(AbortSignal.timeout(5000));
      assert.equal(server.connections, 1);
      assert.equal(server.received.length, 0);
    } finally {
      await server.close();
    }
  });

  it("rejects for a closed port, promptly", async () => {
    const server = await startServer(() => undefined);
    const url = server.url;
    await server.close();
    const { error, ms } = await rejection(() => provider(url).health!(AbortSignal.timeout(5000)));
    assert.ok(error instanceof WebhookError, String(error));
    assert.equal(error.code, "network");
    assert.match(error.message, /^http:\/\/127\.0\.0\.1:\d+\/auth: cannot connect: ECONNREFUSED$/);
    assert.ok(ms < WITHIN_MS, `${ms} ms`);
  });

  it("rejects within the timeout for a port that never accepts, and with the signal's reason when aborted", async () => {
    const listener = await startNonAcceptingListener();
    const fillers: Socket[] = [];
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 0; i < 4; i++) fillers.push(connect(listener.port, "127.0.0.1").on("error", () => undefined));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const url = `http://127.0.0.1:${listener.port}/auth`;
      const { error, ms } = await rejection(() => provider(url).health!(AbortSignal.timeout(30_000)));
      assert.ok(error instanceof WebhookError, String(error));
      assert.equal(error.code, "timeout");
      assert.ok(ms < WITHIN_MS, `${ms} ms`);
      const controller = new AbortController();
      const reason = new Error("readiness check cancelled");
      setTimeout(() => controller.abort(reason), 100);
      await assert.rejects(provider(url, { timeout: "30s" }).health!(controller.signal), (thrown) => thrown === reason);
    } finally {
      for (const socket of fillers) socket.destroy();
      listener.stop();
    }
  });
});
