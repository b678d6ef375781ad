import "reflect-metadata";
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { AuthProvider, AuthRequest } from "@gatehouse-proxy/core";
import { recordingLogger, wirePlugin } from "@gatehouse-proxy/plugin-testkit";
import plugin from "@gatehouse-proxy/auth-webhook";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const RECEIVER = join(REPO_ROOT, "examples/webhook-receiver/receiver.js");
export const CLI = join(REPO_ROOT, "packages/server/dist/cli.js");

/** A Standard Webhooks secret for tests (32 key bytes). */
export const SECRET = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

export function request(username: string, password: string): AuthRequest {
  return { username, password, connMeta: { peer_address: "127.0.0.1:5000", local_address: "127.0.0.1:1080" } };
}

export const noSignal: AbortSignal = new AbortController().signal;

export { recordingLogger };

export interface Wired {
  readonly provider: AuthProvider;
  readonly logger: ReturnType<typeof recordingLogger>;
}

const opened: AuthProvider[] = [];

/** Validates `rawConfig` with the plugin's schema and wires it with the host's code (a child container). */
export function wire(rawConfig: unknown, configDir = "/nonexistent", clock?: () => number): Wired {
  const logger = recordingLogger();
  const options = { instanceName: "hook", configDir, logger, ...(clock !== undefined && { clock }) };
  const { provider } = wirePlugin(plugin, rawConfig, options);
  opened.push(provider);
  return { provider, logger };
}

/** Closes every provider wire() made (their keep-alive pools). */
export async function closeProviders(): Promise<void> {
  await Promise.all(opened.splice(0).map(async (provider) => provider.close?.()));
}

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  /** The body bytes exactly as they arrived. */
  readonly body: Buffer;
}

export interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  readonly received: Received[];
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** An HTTP(S) server on 127.0.0.1 that records every request (body read in full) before `handler` answers. */
export async function startServer(
  handler: (received: Received, response: ServerResponse, request: IncomingMessage) => void,
  tls?: { cert: Buffer; key: Buffer },
): Promise<TestServer> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  const listener: RequestListener = (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const entry = {
        method: request.method ?? "",
        url: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks),
      };
      received.push(entry);
      handler(entry, response, request);
    });
  };
  const server = tls === undefined ? createServer(listener) : createHttpsServer(tls, listener);
  const result: TestServer = {
    server,
    port: 0,
    url: "",
    received,
    connections: 0,
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
  server.on("connection", (socket: Socket) => {
    result.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(result, { port, url: `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}/auth` });
}

/** Answers every request with `status` and `body` (a string is sent as is). */
export function reply(status: number, body?: string, headers: Record<string, string> = {}) {
  return (_received: Received, response: ServerResponse): void => {
    response.writeHead(status, { "content-type": "application/json", ...headers });
    response.end(body);
  };
}

export interface TempDir {
  readonly path: string;
  write(name: string, text: string | Buffer): Promise<string>;
  remove(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), "gatehouse-auth-webhook-"));
  return {
    path,
    async write(name, text) {
      const file = join(path, name);
      await writeFile(file, text);
      return file;
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

const run = promisify(execFile);

export interface Pki {
  readonly caFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A CA made with openssl, and a server certificate it signed for 127.0.0.1 / localhost. */
export async function makePki(dir: TempDir, name: string): Promise<Pki> {
  const at = (file: string) => join(dir.path, `${name}-${file}`);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${name} test CA`,
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.pem"),
  ]);
  await run("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    at("server.key"),
    "-out",
    at("server.csr"),
  ]);
  await dir.write(`${name}-ext.cnf`, "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:auth.internal\n");
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    at("server.csr"),
    "-CA",
    at("ca.pem"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    at("ext.cnf"),
    "-out",
    at("server.pem"),
  ]);
  const { readFile } = await import("node:fs/promises");
  return { caFile: at("ca.pem"), cert: await readFile(at("server.pem")), key: await readFile(at("server.key")) };
}

export interface RunningReceiver {
  readonly child: ChildProcess;
  readonly url: string;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts examples/webhook-receiver/receiver.js and waits for its `listening` line. */
export function startReceiver(args: readonly string[], env: NodeJS.ProcessEnv): Promise<RunningReceiver> {
  return new Promise((done, fail) => {
    const child = spawn(
      "setpriv",
      ["--pdeathsig", "TERM", process.execPath, RECEIVER, "--listen", "127.0.0.1:0", ...args],
      {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    const exited = new Promise<void>((onExit) => child.on("close", () => onExit()));
    const timer = setTimeout(() => fail(new Error(`receiver did not start: ${stderr}`)), 15000);
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      stdout += data;
      const line = stdout.split("\n").find((text) => text.includes('"listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      const { address } = JSON.parse(line) as { address: string };
      done({
        child,
        url: `http://${address}/auth`,
        stderr: () => stderr,
        stop: async () => {
          if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
          await exited;
        },
      });
    });
    child.on("close", (code) => fail(new Error(`receiver exited with ${String(code)}: ${stderr}`)));
  });
}

/** Resolves with the error `work` rejects with and how long that took; fails when it resolves. */
export async function rejection(work: () => Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const start = performance.now();
  let value: unknown;
  try {
    value = await work();
  } catch (error) {
    return { error: error as Error, ms: performance.now() - start };
  }
  throw new Error(`expected an error, got ${JSON.stringify(value)}`);
}
