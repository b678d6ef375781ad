import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { Slapd } from "../../../../plugins/auth-ldap/dist-test/helpers/slapd.js";
import {
  addPosixUser,
  seedLayout,
  SERVICE_PASSWORD,
} from "../../../../plugins/auth-ldap/dist-test/helpers/directory.js";
import { startRedis } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import { startCli } from "../helpers/cli.js";
import { makeFixtureDir } from "../helpers/fixtures.js";
import { loginChurn } from "../helpers/login-churn.js";
import type { ChurnResult, ChurnUser } from "../helpers/login-churn.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { startEcho } from "../helpers/tunnel.js";

// 50 clients log in and relay through the real `gatehouse` while it gets 20 SIGHUPs; the
// provider is asked for every login (cache: false), so every reload swaps the provider
// instances under logins in flight. No login may be refused, no tunnel may break.

/** Cheap scrypt records: the test is about reloads, not the KDF. */
const CHEAP = { ln: 10, r: 8, p: 1 } as const;
const USERS: readonly ChurnUser[] = Array.from({ length: 20 }, (_, i) => ({
  username: `user${String(i)}`,
  password: `pw-${String(i)}-churn`,
}));

function configWith(providerLines: readonly string[]): string {
  return [
    "listeners:",
    "  - listen: 127.0.0.1:0",
    "    require_auth: true",
    "auth:",
    "  provider: backend",
    "  cache: false",
    "  providers:",
    "    backend:",
    ...providerLines.map((line) => `      ${line}`),
    "log: { level: info, format: json }",
  ].join("\n");
}

async function churnThrough(file: string, users: readonly ChurnUser[]): Promise<ChurnResult> {
  const echo = await startEcho();
  const proxy = await startCli(["--config", file]);
  try {
    return await loginChurn({ proxy, echoPort: echo.port, users });
  } finally {
    await proxy.stop();
    echo.close();
  }
}

function assertClean(result: ChurnResult): void {
  const summary = JSON.stringify({ ...result, failures: result.failures.slice(0, 10) });
  assert.deepEqual(result.failures, [], summary);
  assert.equal(result.reloaded, 20, summary);
  assert.equal(result.reloadFailures, 0, summary);
  assert.ok(result.loginsDuringReloads >= 100, summary);
  console.log(`# churn ${summary}`);
}

/** The example receiver (examples/webhook-receiver/receiver.js), stopped by PID. */
async function startReceiver(usersFile: string, secret: string): Promise<{ url: string; stop(): Promise<void> }> {
  const script = join(REPO_ROOT, "examples", "webhook-receiver", "receiver.js");
  const child = spawn(
    "setpriv",
    ["--pdeathsig", "TERM", process.execPath, script, "--users", usersFile, "--listen", "127.0.0.1:0"],
    { env: { ...process.env, WEBHOOK_SECRET: secret }, stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise((resolve) => child.once("close", resolve));
  const address = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`receiver did not start: ${stdout}`)), 15_000);
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      stdout += data;
      const line = stdout.split("\n").find((text) => text.includes('"listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { address: string }).address);
    });
  });
  return {
    url: `http://${address}/login`,
    async stop() {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
      await exited;
    },
  };
}

describe("50 clients logging in and relaying while SIGHUP is sent 20 times", () => {
  const fixture = makeFixtureDir();
  after(() => fixture.remove());

  it("webhook (the example receiver): no login refused, no tunnel broken", async () => {
    const records = await Promise.all(USERS.map((user) => hashPassword(user.password, CHEAP)));
    const table = Object.fromEntries(USERS.map((user, i) => [user.username, { password: records[i] }]));
    const usersFile = fixture.write("webhook-users.json", JSON.stringify({ users: table }));
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const receiver = await startReceiver(usersFile, secret);
    try {
      const file = fixture.write(
        "webhook.yaml",
        configWith(["use: webhook", `url: ${receiver.url}`, "insecure: true", `secret: ${secret}`]),
      );
      assertClean(await churnThrough(file, USERS));
    } finally {
      await receiver.stop();
    }
  });

  it("Lua (examples/policy.lua in fengari): no login refused, no tunnel broken", async () => {
    copyFileSync(join(REPO_ROOT, "examples", "policy.lua"), join(fixture.dir, "policy.lua"));
    const file = fixture.write("lua.yaml", configWith(["use: lua", "script: policy.lua"]));
    assertClean(await churnThrough(file, [{ username: "proxyuser", password: "secretpassword" }]));
  });

  it("LDAP (a real slapd): no login refused, no tunnel broken", async () => {
    const slapd = await Slapd.start();
    try {
      const serviceDn = await seedLayout(slapd);
      await slapd.asAdmin(async (client) => {
        for (const user of USERS)
          await addPosixUser(client, slapd.suffix, { name: user.username, password: user.password });
      });
      const file = fixture.write(
        "ldap.yaml",
        configWith([
          "use: ldap",
          `url: ${slapd.url}`,
          "insecure: true",
          `bind_dn: "${serviceDn}"`,
          `bind_password: ${JSON.stringify(SERVICE_PASSWORD)}`,
          `user_base: "ou=people,${slapd.suffix}"`,
        ]),
      );
      assertClean(await churnThrough(file, USERS));
    } finally {
      await slapd.destroy();
    }
  });

  it("Redis (a real redis-server): no login refused, no tunnel broken", async () => {
    const redis = await startRedis();
    try {
      for (const user of USERS) {
        await redis.cli(
          "HSET",
          `gatehouse:user:${user.username}`,
          "password",
          await hashPassword(user.password, CHEAP),
        );
      }
      const file = fixture.write("redis.yaml", configWith(["use: redis", `url: ${redis.url}`, "command_timeout: 2s"]));
      assertClean(await churnThrough(file, USERS));
    } finally {
      await redis.stop();
    }
  });
});
