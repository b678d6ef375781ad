import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { hashPassword } from "@gatehouse-proxy/core";
import { serializeProxyHeaderV2 } from "@gatehouse-proxy/core/engine";
import { startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { CHEAP_SCRYPT, makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";
import { connectTlsListener, loginStatus, tunnelOverTls } from "../helpers/socks-bytes.js";
import { echoRoundTrip, openTunnel, startEcho } from "../helpers/tunnel.js";

const run = promisify(execFile);

/** Sends SIGHUP and resolves with the `config_reloaded` (or throws on `reload_failed`) line. */
async function reload(proxy: RunningCli): Promise<Record<string, unknown>> {
  const from = proxy.stdout().length;
  process.kill(proxy.child.pid!, "SIGHUP");
  const outcome = await Promise.race([
    proxy.waitForEvent("config_reloaded", from, 15_000),
    proxy.waitForEvent("reload_failed", from, 15_000).then((line) => ({ ...line, failed: true })),
  ]);
  if (outcome.failed === true) throw new Error(`reload failed: ${JSON.stringify(outcome)}`);
  return outcome;
}

/** The auth log lines written after `from`. */
function authLines(proxy: RunningCli, from: number): Record<string, unknown>[] {
  return proxy
    .stdout()
    .slice(from)
    .split("\n")
    .filter((line) => line.includes('"event":"auth"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("SIGHUP keeps the failure throttle", () => {
  const fixture = makeFixtureDir();
  let records: { alice: string; carol: string };
  before(async () => {
    const [alice, carol] = await Promise.all([
      hashPassword("alice-pw", CHEAP_SCRYPT),
      hashPassword("carol-pw", CHEAP_SCRYPT),
    ]);
    records = { alice, carol };
  });
  after(() => fixture.remove());

  const config = (blockLine: string): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      "auth:",
      "  provider: local",
      ...(blockLine === "" ? [] : ["  throttle:", `    ${blockLine}`]),
      "  providers:",
      "    local:",
      "      use: static",
      "      users:",
      `        alice: { password: "${records.alice}" }`,
      `        carol: { password: "${records.carol}" }`,
      // Throttled attempts are logged at debug (an anonymous client repeats them for free).
      "log: { level: debug, format: json }",
    ].join("\n");

  it("an address blocked by 10 failures and a username blocked from 10 addresses stay blocked after SIGHUP", async () => {
    const file = fixture.write("throttle.yaml", config(""));
    const proxy = await startCli(["--config", file]);
    try {
      const port = proxy.ports[0]!;
      for (let i = 0; i < 10; i++) assert.equal(await loginStatus(port, "alice", "wrong", "127.0.0.1"), 1);
      // carol: one failure from each of ten addresses, so no address is blocked but the username is.
      for (let i = 11; i <= 20; i++) {
        assert.equal(await loginStatus(port, "carol", "wrong", `127.0.0.${String(i)}`), 1);
      }
      assert.equal(await loginStatus(port, "alice", "alice-pw", "127.0.0.1"), 1, "blocked before the reload");

      // A reload that changes the throttle's settings (the same limits, written out) keeps its record.
      fixture.write("throttle.yaml", config("block: 60s"));
      await reload(proxy);
      const from = proxy.stdout().length;
      assert.equal(await loginStatus(port, "alice", "alice-pw", "127.0.0.1"), 1, "the address is still blocked");
      assert.equal(await loginStatus(port, "carol", "carol-pw", "127.0.0.11"), 1, "the username is still blocked");
      await reload(proxy);
      assert.equal(await loginStatus(port, "alice", "alice-pw", "127.0.0.1"), 1, "and after a second reload");
      // The log lines travel through a pipe: give the last one a moment.
      const deadline = Date.now() + 5000;
      while (authLines(proxy, from).length < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const lines = authLines(proxy, from);
      assert.ok(lines.length >= 3, proxy.stdout().slice(from));
      for (const line of lines) assert.equal(line.reason, "throttled", JSON.stringify(line));
      assert.match(String(lines[1]!.detail), /username/);
    } finally {
      await proxy.stop();
    }
  });
});

describe("SIGHUP keeps the cached decisions of unchanged providers", () => {
  const fixture = makeFixtureDir();
  after(() => fixture.remove());

  /** Logs in as alice and returns the `cached` field of the auth line it produced. */
  const loginCached = async (proxy: RunningCli, password: string): Promise<{ status: number; cached: unknown }> => {
    const from = proxy.stdout().length;
    const status = await loginStatus(proxy.ports[0]!, "alice", password);
    const line = await proxy.waitForEvent("auth", from);
    return { status, cached: line.cached };
  };

  it("an unchanged users file keeps alice's cached allow; a rewritten one drops it", async () => {
    const [first, second] = await Promise.all([
      hashPassword("first-pw", CHEAP_SCRYPT),
      hashPassword("second-pw", CHEAP_SCRYPT),
    ]);
    fixture.write("users.yaml", `users:\n  alice: { password: "${first}" }\n`);
    const file = fixture.write(
      "cache.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  provider: local",
        "  throttle: false",
        "  providers:",
        "    local:",
        "      use: static",
        "      users_file: users.yaml",
        "log: { level: info, format: json }",
      ].join("\n"),
    );
    const proxy = await startCli(["--config", file]);
    try {
      assert.deepEqual(await loginCached(proxy, "first-pw"), { status: 0, cached: false });
      assert.deepEqual(await loginCached(proxy, "first-pw"), { status: 0, cached: true });
      await reload(proxy);
      assert.deepEqual(await loginCached(proxy, "first-pw"), { status: 0, cached: true }, "unchanged: still cached");

      // Same config, same path, new content: the provider is not the same any more.
      fixture.write("users.yaml", `users:\n  alice: { password: "${second}" }\n`);
      await reload(proxy);
      assert.deepEqual(await loginCached(proxy, "first-pw"), { status: 1, cached: false }, "the old password is gone");
      assert.deepEqual(await loginCached(proxy, "second-pw"), { status: 0, cached: false });
    } finally {
      await proxy.stop();
    }
  });
});

describe("SIGHUP while logins wait on a slow webhook", () => {
  const fixture = makeFixtureDir();
  let receiver: Server;
  let receiverPort: number;
  let requests = 0;
  let answered = 0;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  before(async () => {
    echo = await startEcho();
    // A real HTTP receiver that takes 2 s per login; 204 for `pw-<name>`, 401 otherwise.
    receiver = createServer((request, response) => {
      requests++;
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { username: string; password: string };
        setTimeout(() => {
          answered++;
          response.writeHead(body.password === `pw-${body.username}` ? 204 : 401).end();
        }, 2000);
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverPort = (receiver.address() as AddressInfo).port;
  });
  after(() => {
    receiver.closeAllConnections();
    receiver.close();
    echo.close();
    fixture.remove();
  });

  it("every login in flight at the reload succeeds and relays", async () => {
    const file = fixture.write(
      "webhook.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  provider: hook",
        "  cache: false",
        "  providers:",
        "    hook:",
        "      use: webhook",
        `      url: http://127.0.0.1:${String(receiverPort)}/login`,
        "      insecure: true",
        "      timeout: 5s",
        "log: { level: info, format: json }",
      ].join("\n"),
    );
    const proxy = await startCli(["--config", file]);
    try {
      const port = proxy.ports[0]!;
      const logins = Array.from({ length: 6 }, async (_, i) => {
        const tunnel = await openTunnel(port, echo.port, `user${String(i)}`, `pw-user${String(i)}`);
        try {
          return await echoRoundTrip(tunnel, `hello from ${String(i)}`);
        } finally {
          tunnel.destroy();
        }
      });
      const deadline = Date.now() + 5000;
      while (requests < 6 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(requests, 6, "all six logins reached the receiver");
      await reload(proxy);
      assert.equal(answered, 0, "the reload finished while all six waited for their answer");
      const results = await Promise.allSettled(logins);
      assert.deepEqual(
        results.map((result) => (result.status === "fulfilled" ? result.value : String(result.reason))),
        Array.from({ length: 6 }, (_, i) => `hello from ${String(i)}`),
      );
      // The new provider answers too.
      const tunnel = await openTunnel(port, echo.port, "user9", "pw-user9");
      assert.equal(await echoRoundTrip(tunnel, "after"), "after");
      tunnel.destroy();
    } finally {
      await proxy.stop();
    }
  });
});

describe("SIGHUP re-reads TLS files and the log level", () => {
  const fixture = makeFixtureDir();
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let record: string;
  const certificate = async (name: string): Promise<{ cert: string; key: string }> => {
    const keyFile = join(fixture.dir, `${name}.key`);
    const certFile = join(fixture.dir, `${name}.crt`);
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ]);
    return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  };
  before(async () => {
    echo = await startEcho();
    record = await hashPassword("alice-pw", CHEAP_SCRYPT);
  });
  after(() => {
    echo.close();
    fixture.remove();
  });

  const config = (level: string): string =>
    [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      "    use_tls: true",
      // Listener TLS paths are taken as given (relative to the working directory).
      `    tls_certificate: ${join(fixture.dir, "served.crt")}`,
      `    tls_private_key: ${join(fixture.dir, "served.key")}`,
      ...staticAuthLines(record),
      `log: { level: ${level}, format: json }`,
    ].join("\n");

  const servedSubject = async (port: number): Promise<string> => {
    const socket = await connectTlsListener(port);
    const raw = socket.getPeerX509Certificate();
    socket.destroy();
    return raw === undefined ? "none" : new X509Certificate(raw.raw).subject;
  };

  /** A plain-TCP client that speaks no TLS: the listener logs a failed handshake at debug. */
  const failHandshake = async (port: number): Promise<void> => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => undefined);
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.end("this is not a TLS client hello\r\n\r\n");
    await new Promise((resolve) => socket.once("close", resolve));
  };

  it("behind a balancer (proxy_protocol + use_tls): the rotated certificate is served after the header", async () => {
    const [first, second] = await Promise.all([certificate("first-behind"), certificate("second-behind")]);
    fixture.write("served.crt", first.cert);
    fixture.write("served.key", first.key);
    const behind = (): string =>
      config("info").replace(
        "    use_tls: true",
        "    use_tls: true\n    proxy_protocol: { versions: [2], trusted: [127.0.0.1] }",
      );
    const file = fixture.write("tls-behind.yaml", behind());
    const proxy = await startCli(["--config", file]);
    const header = serializeProxyHeaderV2({ address: "198.51.100.77", port: 4077 }, { address: "127.0.0.1", port: 1 });
    const subject = async (): Promise<string> => {
      const socket = await connectTlsListener(proxy.ports[0]!, header);
      const raw = socket.getPeerX509Certificate();
      socket.destroy();
      return raw === undefined ? "none" : new X509Certificate(raw.raw).subject;
    };
    try {
      assert.equal(await subject(), "CN=first-behind");
      const tunnel = await tunnelOverTls(
        await connectTlsListener(proxy.ports[0]!, header),
        echo.port,
        "alice",
        "alice-pw",
      );
      assert.equal(await echoRoundTrip(tunnel, "behind"), "behind");
      fixture.write("served.crt", second.cert);
      fixture.write("served.key", second.key);
      await reload(proxy);
      assert.equal(await subject(), "CN=second-behind");
      assert.equal(await echoRoundTrip(tunnel, "still behind"), "still behind", "the old tunnel runs on");
      tunnel.destroy();
      const end = await proxy.waitForEvent("session_end");
      assert.equal(end.peer, "198.51.100.77:4077");
    } finally {
      await proxy.stop();
    }
  });

  it("serves a rotated certificate to new connections, keeps old tunnels, and follows log.level", async () => {
    const [first, second] = await Promise.all([certificate("first-cert"), certificate("second-cert")]);
    fixture.write("served.crt", first.cert);
    fixture.write("served.key", first.key);
    const file = fixture.write("tls.yaml", config("info"));
    const proxy = await startCli(["--config", file]);
    try {
      const port = proxy.ports[0]!;
      assert.equal(await servedSubject(port), "CN=first-cert");
      const oldTunnel = await tunnelOverTls(await connectTlsListener(port), echo.port, "alice", "alice-pw");
      assert.equal(await echoRoundTrip(oldTunnel, "before rotation"), "before rotation");
      let from = proxy.stdout().length;
      await failHandshake(port);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.doesNotMatch(proxy.stdout().slice(from), /"event":"tls_error"/, "info hides debug lines");

      // Rotation at the same path, and log level debug.
      fixture.write("served.crt", second.cert);
      fixture.write("served.key", second.key);
      fixture.write("tls.yaml", config("debug"));
      await reload(proxy);
      assert.equal(await servedSubject(port), "CN=second-cert");
      assert.equal(await echoRoundTrip(oldTunnel, "after rotation"), "after rotation", "the old tunnel runs on");
      from = proxy.stdout().length;
      await failHandshake(port);
      await proxy.waitForEvent("tls_error", from);

      // A key that does not fit the certificate: the reload fails, the served certificate stays.
      fixture.write("served.key", first.key);
      from = proxy.stdout().length;
      process.kill(proxy.child.pid!, "SIGHUP");
      const failed = await proxy.waitForEvent("reload_failed", from);
      assert.match(JSON.stringify(failed.problems), /tls_certificate and tls_private_key cannot be used/);
      assert.equal(await servedSubject(port), "CN=second-cert");
      fixture.write("served.key", second.key);

      // Quieter: the reload itself is still announced, then info lines stop.
      fixture.write("tls.yaml", config("warn"));
      await reload(proxy);
      from = proxy.stdout().length;
      const quiet = await tunnelOverTls(await connectTlsListener(port), echo.port, "alice", "alice-pw");
      assert.equal(await echoRoundTrip(quiet, "quiet"), "quiet");
      quiet.destroy();
      await failHandshake(port);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(proxy.stdout().slice(from), "", "nothing below warn is logged");
      assert.equal(await echoRoundTrip(oldTunnel, "still"), "still");
      oldTunnel.destroy();
    } finally {
      await proxy.stop();
    }
  });
});
