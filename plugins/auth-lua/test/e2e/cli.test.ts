import "reflect-metadata";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { CLI, REPO_ROOT, SEED_AUTHINFO, curlThrough, scriptDir, startHttp } from "../helpers.js";

interface Gatehouse {
  readonly child: ChildProcess;
  readonly port: number;
  stdout(): string;
  waitFor(event: string, from: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

/** The real `gatehouse` CLI on a config file; dies with the test (pdeathsig); stopped by PID. */
function startGatehouse(config: string): Promise<Gatehouse> {
  return new Promise((resolve, reject) => {
    const child = spawn("setpriv", ["--pdeathsig", "TERM", process.execPath, CLI, "--config", config], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let started = false;
    const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
    const timer = setTimeout(() => reject(new Error(`gatehouse did not start: ${stdout} ${stderr}`)), 30_000);
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      stdout += data;
      const line = started ? undefined : stdout.split("\n").find((text) => text.includes('"event":"started"'));
      if (line === undefined) return;
      started = true;
      clearTimeout(timer);
      const listener = (JSON.parse(line) as { listeners: string[] }).listeners[0]!;
      resolve({
        child,
        port: Number(listener.slice(listener.lastIndexOf(":") + 1)),
        stdout: () => stdout,
        async waitFor(event, from) {
          const deadline = Date.now() + 20_000;
          for (;;) {
            const found = stdout
              .slice(from)
              .split("\n")
              .find((text) => text.includes(`"event":"${event}"`));
            if (found !== undefined) return JSON.parse(found) as Record<string, unknown>;
            if (Date.now() > deadline) throw new Error(`no ${event} event in: ${stdout}`);
            await new Promise((done) => setTimeout(done, 25));
          }
        },
        stop() {
          if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
          return exited;
        },
      });
    });
    void exited.then((code) => {
      if (!started) reject(new Error(`gatehouse exited with ${String(code)}: ${stderr}`));
    });
  });
}

function checkConfig(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, "check-config", file], { cwd: REPO_ROOT }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), output: stdout + stderr });
    });
  });
}

const CONFIG = `listeners:
  - listen: 127.0.0.1:0
    require_auth: true
auth:
  provider: local
  cache: false
  providers:
    local:
      use: lua
      script: policy.lua
log:
  level: info
shutdown_timeout: 1s
`;

describe("the real gatehouse CLI with use: lua (a quickstart-like config)", () => {
  let http: { server: Server; url: string };
  const dir = scriptDir();
  before(async () => {
    http = await startHttp();
  });
  after(() => {
    http.server.close();
    dir.remove();
  });

  it("check-config compiles the script: OK for the seed, exit 2 naming the line for a syntax error", async () => {
    dir.write("policy.lua", SEED_AUTHINFO);
    const config = dir.write("gatehouse.yaml", CONFIG);
    const ok = await checkConfig(config);
    assert.equal(ok.code, 0, ok.output);
    assert.match(ok.output, /@gatehouse-proxy\/auth-lua/);
    dir.write("policy.lua", SEED_AUTHINFO.replace("return false\n  end\n  if", "return false\n  if"));
    const broken = await checkConfig(config);
    assert.equal(broken.code, 2, broken.output);
    assert.match(broken.output, /auth\.providers\.local\.script: policy\.lua:\d+:/);
  });

  it("serves the seed, reloads a changed script on SIGHUP, keeps the old one when the new one is broken", async () => {
    dir.write("policy.lua", SEED_AUTHINFO);
    const gatehouse = await startGatehouse(dir.write("gatehouse.yaml", CONFIG));
    try {
      const url = `${http.url}/cli`;
      assert.equal((await curlThrough(gatehouse.port, url, "proxyuser:secretpassword")).exitCode, 0);
      assert.equal((await curlThrough(gatehouse.port, url, "proxyuser:wrong")).exitCode, 97);
      assert.match(gatehouse.stdout(), /"groups":\["proxy-users","premium-tier"\]/);

      // A changed script: a new password.
      dir.write("policy.lua", SEED_AUTHINFO.replace("'secretpassword'", "'rotated-password'"));
      let from = gatehouse.stdout().length;
      process.kill(gatehouse.child.pid!, "SIGHUP");
      await gatehouse.waitFor("config_reloaded", from);
      assert.equal((await curlThrough(gatehouse.port, url, "proxyuser:rotated-password")).exitCode, 0);
      assert.equal((await curlThrough(gatehouse.port, url, "proxyuser:secretpassword")).exitCode, 97);

      // A broken script: the reload fails and the rotated script keeps serving.
      dir.write("policy.lua", "kumo.on('proxy_server_auth_rfc1929', function(u, p)\n  return true\n");
      from = gatehouse.stdout().length;
      process.kill(gatehouse.child.pid!, "SIGHUP");
      const failed = await gatehouse.waitFor("reload_failed", from);
      assert.match(JSON.stringify(failed.problems), /policy\.lua:\d+:/);
      assert.equal((await curlThrough(gatehouse.port, url, "proxyuser:rotated-password")).exitCode, 0);
      assert.equal((await curlThrough(gatehouse.port, url, "proxyuser:anything")).exitCode, 97);

      // A script that compiles but fails to load (a second handler): init() fails, the old one stays.
      dir.write("policy.lua", `${SEED_AUTHINFO}\n${SEED_AUTHINFO}`);
      from = gatehouse.stdout().length;
      process.kill(gatehouse.child.pid!, "SIGHUP");
      const refused = await gatehouse.waitFor("reload_failed", from);
      assert.match(JSON.stringify(refused.problems), /already registered/);
      assert.equal((await curlThrough(gatehouse.port, url, "proxyuser:rotated-password")).exitCode, 0);
    } finally {
      assert.equal(await gatehouse.stop(), 0);
    }
    assert.doesNotMatch(gatehouse.stdout(), /secretpassword|rotated-password/);
  });
});

/** Counts its calls (one worker: one Lua state, one counter) and prints the count. */
const COUNTING_POLICY = `calls = 0
kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
  calls = calls + 1
  print('call ' .. calls)
  return username == 'otp-user' and password == 'code-123456'
end)
`;

describe("reusable: false through the real gatehouse CLI, with the decision cache on", () => {
  let http: { server: Server; url: string };
  const dir = scriptDir();
  before(async () => {
    http = await startHttp();
    dir.write("policy.lua", COUNTING_POLICY);
  });
  after(() => {
    http.server.close();
    dir.remove();
  });

  /** Two identical logins, one after the other, through a 60 s cache; the count the script printed last. */
  async function twoLogins(reusable: string): Promise<{ exitCodes: number[]; calls: number }> {
    const config = CONFIG.replace("  cache: false\n", "  cache: {ttl: 60s}\n").replace(
      "      script: policy.lua\n",
      `      script: policy.lua\n      workers: 1\n${reusable === "" ? "" : `      ${reusable}\n`}`,
    );
    assert.match(config, /cache: \{ttl: 60s\}\n[^]*workers: 1\n/);
    const gatehouse = await startGatehouse(dir.write("gatehouse.yaml", config));
    const exitCodes: number[] = [];
    try {
      for (const path of ["/first", "/second"]) {
        exitCodes.push((await curlThrough(gatehouse.port, `${http.url}${path}`, "otp-user:code-123456")).exitCode);
      }
    } finally {
      assert.equal(await gatehouse.stop(), 0);
    }
    const printed = [...gatehouse.stdout().matchAll(/"event":"lua_log".*?call (\d+)/g)].map((match) =>
      Number(match[1]),
    );
    assert.deepEqual(
      printed,
      printed.map((_, index) => index + 1),
      "one lua_log line per call, counting up",
    );
    return { exitCodes, calls: printed.length };
  }

  it("without it, the second identical login is answered from the cache: the script runs once", async () => {
    assert.deepEqual(await twoLogins(""), { exitCodes: [0, 0], calls: 1 });
  });

  it("with reusable: false, both identical logins run the script", async () => {
    assert.deepEqual(await twoLogins("reusable: false"), { exitCodes: [0, 0], calls: 2 });
  });

  it("check-config refuses a reusable that is not a boolean, naming its path", async () => {
    const config = dir.write(
      "bad-reusable.yaml",
      CONFIG.replace("      script: policy.lua\n", '      script: policy.lua\n      reusable: "no"\n'),
    );
    const result = await checkConfig(config);
    assert.equal(result.code, 2, result.output);
    assert.match(result.output, /auth\.providers\.local\.reusable: .*expected boolean/);
  });
});
