import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import { hashPassword } from "@gatehouse-proxy/core";
import type { ProxyServer } from "@gatehouse-proxy/core/engine";
import { CLI, REPO_ROOT, SECRET, closeProviders, startReceiver, tempDir, wire } from "../fixtures.js";
import type { RunningReceiver, TempDir } from "../fixtures.js";

interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
}

function curlThrough(proxy: string, credentials: string, url: string): Promise<CurlResult> {
  return new Promise((resolve) => {
    const args = ["--silent", "--max-time", "15", "--socks5-hostname", proxy, "--proxy-user", credentials, url];
    execFile("curl", args, (error, stdout) => {
      resolve({ exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout });
    });
  });
}

interface Gatehouse {
  readonly port: number;
  stdout(): string;
  stop(): Promise<number | null>;
}

/** The real `gatehouse` executable, started with --config; resolves once it logs `started`. */
function startGatehouse(configFile: string, env: NodeJS.ProcessEnv): Promise<Gatehouse> {
  return new Promise((resolve, reject) => {
    const child = spawn("setpriv", ["--pdeathsig", "TERM", process.execPath, CLI, "--config", configFile], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
    const timer = setTimeout(() => reject(new Error(`gatehouse did not start: ${stdout} ${stderr}`)), 20000);
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      const first = stdout === "" || !stdout.includes('"event":"started"');
      stdout += data;
      const line = stdout.split("\n").find((text) => text.includes('"event":"started"'));
      if (!first || line === undefined) return;
      clearTimeout(timer);
      const { listeners } = JSON.parse(line) as { listeners: string[] };
      const address = listeners[0]!;
      resolve({
        port: Number(address.slice(address.lastIndexOf(":") + 1)),
        stdout: () => stdout,
        stop: async () => {
          if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
          return exited;
        },
      });
    });
    void exited.then((code) => reject(new Error(`gatehouse exited with ${String(code)}: ${stderr}`)));
  });
}

describe("end to end: curl → Gatehouse → webhook → example receiver", () => {
  let dir: TempDir;
  let receiver: RunningReceiver;
  let http: Server;
  let target: string;

  before(async () => {
    dir = await tempDir();
    const users = {
      users: {
        proxyuser: {
          password: await hashPassword("secretpassword", { ln: 10, r: 8, p: 1 }),
          groups: ["proxy-users", "premium-tier"],
        },
      },
    };
    await dir.write("users.json", JSON.stringify(users));
    receiver = await startReceiver(["--users", join(dir.path, "users.json")], { WEBHOOK_SECRET: SECRET });
    http = createServer((req, res) => res.end(`hello ${req.url ?? ""}`));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    target = `http://localhost:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    await closeProviders();
    await receiver.stop();
    await new Promise((resolve) => http.close(resolve));
    await dir.remove();
  });

  describe("the in-process engine", () => {
    let proxy: ProxyServer;
    let proxyAddress: string;
    before(async () => {
      const { provider } = wire({ url: receiver.url, insecure: true, secret: SECRET, timeout: "3s" });
      await provider.init?.();
      proxy = createProxyServer({
        listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
        auth: { provider, cache: false },
      });
      await proxy.start();
      proxyAddress = `127.0.0.1:${proxy.addresses()[0]!.port}`;
    });
    after(() => proxy.close());

    it("the right password tunnels; wrong ones and unknown users are refused (curl exit 97)", async () => {
      const good = await curlThrough(proxyAddress, "proxyuser:secretpassword", `${target}/ok`);
      assert.deepEqual(good, { exitCode: 0, stdout: "hello /ok" });
      for (const credentials of ["proxyuser:wrongpassword", "nobody:secretpassword", 'proxyuser:"\\']) {
        assert.equal((await curlThrough(proxyAddress, credentials, `${target}/no`)).exitCode, 97, credentials);
      }
    });

    it("a receiver that is down refuses the client (fails closed)", async () => {
      const gone = createServer();
      await new Promise<void>((resolve) => gone.listen(0, "127.0.0.1", resolve));
      const port = (gone.address() as AddressInfo).port;
      await new Promise((resolve) => gone.close(resolve));
      const { provider } = wire({ url: `http://127.0.0.1:${port}/auth`, insecure: true, timeout: "2s" });
      const closedProxy = createProxyServer({
        listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
        auth: { provider, cache: false },
      });
      await closedProxy.start();
      try {
        const address = `127.0.0.1:${closedProxy.addresses()[0]!.port}`;
        assert.equal((await curlThrough(address, "proxyuser:secretpassword", `${target}/x`)).exitCode, 97);
      } finally {
        await closedProxy.close();
      }
    });
  });

  it("the real gatehouse CLI with examples/webhook-receiver/gatehouse.yaml (`use: webhook`, secret from ${env:})", async () => {
    // The example file, on an ephemeral port and pointed at this test's receiver.
    const example = await readFile(join(REPO_ROOT, "examples/webhook-receiver/gatehouse.yaml"), "utf8");
    const config = example
      .replace("listen: 127.0.0.1:1080", "listen: 127.0.0.1:0")
      .replace("url: http://127.0.0.1:8080/gatehouse/login", `url: ${receiver.url}`)
      .replace("  provider: hook\n", "  provider: hook\n  cache: false\n");
    for (const edit of [/listen: 127\.0\.0\.1:0\n/, /url: http:\/\/127\.0\.0\.1:\d+\/auth\n/, /cache: false\n/]) {
      assert.match(config, edit);
    }
    const file = await dir.write("gatehouse.yaml", config);
    const gatehouse = await startGatehouse(file, { GATEHOUSE_WEBHOOK_SECRET: SECRET });
    try {
      const proxy = `127.0.0.1:${gatehouse.port}`;
      assert.deepEqual(await curlThrough(proxy, "proxyuser:secretpassword", `${target}/cli`), {
        exitCode: 0,
        stdout: "hello /cli",
      });
      assert.equal((await curlThrough(proxy, "proxyuser:secretpassworD", `${target}/cli`)).exitCode, 97);
    } finally {
      assert.equal(await gatehouse.stop(), 0);
    }
    const log = gatehouse.stdout();
    assert.match(log, /@gatehouse-proxy\/auth-webhook|webhook provider ready/);
    assert.match(log, /"groups":\["proxy-users","premium-tier"\]/);
    assert.doesNotMatch(log, /secretpassw/);
    assert.ok(!log.includes(SECRET.slice(6)), "the secret is not logged");
  });
});
