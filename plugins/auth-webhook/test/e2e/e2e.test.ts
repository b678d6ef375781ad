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
import { CLI, REPO_ROOT, SECRET, closeProviders, startReceiver, startServer, tempDir, wire } from "../fixtures.js";
import type { Received, RunningReceiver, TempDir } from "../fixtures.js";

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

describe("reusable: false through the real gatehouse CLI, with the decision cache on", () => {
  let dir: TempDir;
  let http: Server;
  let target: string;
  before(async () => {
    dir = await tempDir();
    http = createServer((req, res) => res.end(`hello ${req.url ?? ""}`));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    target = `http://localhost:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => http.close(resolve));
    await dir.remove();
  });

  /** Gatehouse with a 60 s cache in front of a receiver that allows everyone and counts requests. */
  async function run(
    reusable: string,
    answer: (received: Received[], respond: (body?: string) => void) => void,
    logins: (proxy: string) => Promise<CurlResult[]>,
  ): Promise<{ results: CurlResult[]; requests: number }> {
    const receiver = await startServer((_received, response) =>
      answer(receiver.received, (body) =>
        body === undefined
          ? response.writeHead(204).end()
          : response.writeHead(200, { "content-type": "application/json" }).end(body),
      ),
    );
    const lines = [
      "listeners:",
      "  - listen: 127.0.0.1:0",
      "    require_auth: true",
      "auth:",
      "  provider: hook",
      "  cache: {ttl: 60s}",
      "  providers:",
      "    hook:",
      "      use: webhook",
      `      url: ${receiver.url}`,
      "      insecure: true",
      ...(reusable === "" ? [] : [`      ${reusable}`]),
      "shutdown_timeout: 1s",
    ];
    const gatehouse = await startGatehouse(await dir.write("reusable.yaml", `${lines.join("\n")}\n`), {});
    try {
      const results = await logins(`127.0.0.1:${gatehouse.port}`);
      return { results, requests: receiver.received.length };
    } finally {
      assert.equal(await gatehouse.stop(), 0);
      await receiver.close();
    }
  }
  const atOnce = (_received: Received[], respond: () => void): void => respond();
  const oneAfterTheOther = async (proxy: string): Promise<CurlResult[]> => [
    await curlThrough(proxy, "otp-user:123456", `${target}/first`),
    await curlThrough(proxy, "otp-user:123456", `${target}/second`),
  ];

  it("without it, the second identical login is answered from the cache: one request", async () => {
    const { results, requests } = await run("", atOnce, oneAfterTheOther);
    assert.deepEqual(
      results.map((result) => result.exitCode),
      [0, 0],
    );
    assert.equal(requests, 1);
  });

  it("with reusable: false, both identical logins reach the receiver", async () => {
    const { results, requests } = await run("reusable: false", atOnce, oneAfterTheOther);
    assert.deepEqual(
      results.map((result) => result.exitCode),
      [0, 0],
    );
    assert.equal(requests, 2);
  });

  it("a receiver's answer with reusable: false is not cached: both identical logins reach it", async () => {
    const oneTimeAnswer = JSON.stringify({
      identities: [{ identity: "otp-user", context: "ProxyAuthRfc1929" }],
      groups: [],
      reusable: false,
    });
    const { results, requests } = await run("", (_received, respond) => respond(oneTimeAnswer), oneAfterTheOther);
    assert.deepEqual(
      results.map((result) => result.exitCode),
      [0, 0],
    );
    assert.equal(requests, 2);
  });

  /** Answers once two requests are in, or after 2 s when only one ever comes. */
  function whenTwoAreIn(): (received: Received[], respond: () => void) => void {
    const waiting: (() => void)[] = [];
    let fallback: NodeJS.Timeout | undefined;
    const answerAll = (): void => waiting.splice(0).forEach((respond) => respond());
    return (received, respond) => {
      waiting.push(respond);
      fallback ??= setTimeout(answerAll, 2000);
      if (received.length >= 2) {
        clearTimeout(fallback);
        answerAll();
      }
    };
  }
  const atTheSameTime = (proxy: string): Promise<CurlResult[]> =>
    Promise.all([
      curlThrough(proxy, "otp-user:123456", `${target}/a`),
      curlThrough(proxy, "otp-user:123456", `${target}/b`),
    ]);

  it("with reusable: false, two identical logins at the same time are not coalesced into one request", async () => {
    const { results, requests } = await run("reusable: false", whenTwoAreIn(), atTheSameTime);
    assert.deepEqual(
      results.map((result) => result.exitCode),
      [0, 0],
    );
    assert.equal(requests, 2);
  });

  it("without it, two identical logins at the same time send one request (coalesced, or cached)", async () => {
    const { results, requests } = await run("", whenTwoAreIn(), atTheSameTime);
    assert.deepEqual(
      results.map((result) => result.exitCode),
      [0, 0],
    );
    assert.equal(requests, 1);
  });

  it("check-config refuses a reusable that is not a boolean, naming its path", async () => {
    const file = await dir.write(
      "bad-reusable.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "auth:",
        "  provider: hook",
        "  providers:",
        "    hook:",
        "      use: webhook",
        "      url: https://auth.example/login",
        '      reusable: "no"',
        "",
      ].join("\n"),
    );
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, [CLI, "check-config", file], (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code), output: stdout + stderr });
      });
    });
    assert.equal(result.code, 2, result.output);
    assert.match(result.output, /auth\.providers\.hook\.reusable: .*expected boolean/);
  });
});
