// Login benchmark module for @gatehouse-proxy/auth-redis: 200 users as Redis hashes with scrypt
// records (the hash-password default), in a redis-server started here on a free port.
// Backend calls are counted with INFO commandstats (HGETALL: one per attempt that reaches Redis).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { hashPassword } from "@gatehouse-proxy/core";
import { userKey } from "@gatehouse-proxy/auth-redis";
import { Redis } from "ioredis";

const USERS = 200;
const PREFIX = "gatehouse:user:";

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function startRedis(port, dir) {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
  const child = spawn("setpriv", ["--pdeathsig", "TERM", "redis-server", ...args, "--logfile", ""], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`redis-server not ready: ${output}`)), 10_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.stdout.resume();
        resolve(child);
      }
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
}

export async function setup({ tmpDir }) {
  const port = await freePort();
  const server = await startRedis(port, tmpDir);
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url);
  const users = Array.from({ length: USERS }, (_, i) => ({ username: `user${i}`, password: `pw-${i}-bench` }));
  const records = await Promise.all(users.map(({ password }) => hashPassword(password)));
  const pipeline = admin.pipeline();
  users.forEach(({ username }, i) =>
    pipeline.hset(userKey(PREFIX, username), { password: records[i], groups: "bench" }),
  );
  await pipeline.exec();
  return {
    provider: { use: "redis", url, command_timeout: "2s" },
    users,
    // KDF-bound: more clients only queue behind the KDF slots until the pipeline deadline.
    concurrency: 4,
    note: "scrypt ln=15,r=8,p=1 (32 MiB, the hash-password default); one HGETALL per attempt",
    async backendCalls() {
      const info = await admin.info("commandstats");
      return Number(/cmdstat_hgetall:calls=(\d+)/.exec(info)?.[1] ?? 0);
    },
    async close() {
      admin.disconnect();
      const exited = new Promise((resolve) => server.once("exit", resolve));
      server.kill("SIGTERM");
      await exited;
    },
  };
}
