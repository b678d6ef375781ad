import "reflect-metadata";
import { createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { providerComplianceSuite, providerFromPlugin, recordingLogger } from "@gatehouse-proxy/plugin-testkit";
import plugin from "@gatehouse-proxy/auth-webhook";
import { SECRET, startReceiver, tempDir } from "../fixtures.js";
import type { RunningReceiver, TempDir } from "../fixtures.js";

const PASSWORD = "correct horse battery";

/** A TCP server on 127.0.0.1 that accepts, reads everything and never answers. */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.resume();
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}

/** A port on 127.0.0.1 that was just free and has nothing listening on it: connections are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

// The backend is the example receiver (examples/webhook-receiver), a separate process that checks
// the signature and the scrypt records; the stalled and broken backends are real sockets too.
const dir: TempDir = await tempDir();
await dir.write(
  "users.json",
  JSON.stringify({
    users: {
      alice: { password: await hashPassword(PASSWORD, { ln: 10, r: 8, p: 1 }), groups: ["staff", "vpn"] },
    },
  }),
);
let receiver: RunningReceiver | undefined;
let silent: Awaited<ReturnType<typeof startSilentServer>> | undefined;
const deadPort = await closedPort();
const logger = recordingLogger();

// 1000 logins at once queue behind max_sockets connections and the receiver's scrypt work; the
// provider's timeout covers that wait, so it is longer here than a production setting would be.
const base = { insecure: true, secret: SECRET, timeout: "30s" } as const;

describe("auth-webhook passes the provider compliance suite", () => {
  before(async () => {
    receiver = await startReceiver(["--users", join(dir.path, "users.json")], { WEBHOOK_SECRET: SECRET });
    silent = await startSilentServer();
  });
  after(async () => {
    await receiver?.stop();
    await silent?.close();
    await dir.remove();
  });

  // The factories run inside the checks, after before() started the servers.
  const lazy = (config: () => object) => (): ReturnType<ReturnType<typeof providerFromPlugin>> =>
    providerFromPlugin(plugin, config(), { logger, instanceName: "hook" })();

  providerComplianceSuite(
    it,
    lazy(() => ({ ...base, url: receiver!.url })),
    {
      valid: {
        username: "alice",
        password: PASSWORD,
        expect: { identity: "alice", groups: ["vpn", "staff"] },
      },
      wrongPassword: "Correct horse battery",
      unknownUser: "mallory",
      brokenFactory: lazy(() => ({ ...base, url: `http://127.0.0.1:${String(deadPort)}/auth` })),
      stalledFactory: lazy(() => ({ ...base, url: `http://127.0.0.1:${String(silent!.port)}/auth` })),
      logs: () => logger.lines,
    },
  );
});
