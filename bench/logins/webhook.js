// Login benchmark module for @gatehouse-proxy/auth-webhook: Gatehouse POSTs each login, signed, over
// HTTPS (an openssl-made CA, RSA 2048) to the example receiver (examples/webhook-receiver/
// receiver.js) on loopback, which verifies the signature and checks scrypt records.
//   BENCH_WEBHOOK_KEEP_ALIVE=false  one TCP and TLS connection per login instead of the pool
//   BENCH_WEBHOOK_TLS=false         plain http:// on loopback
//   BENCH_WEBHOOK_RECEIVER=memory   a receiver that checks the signature and compares passwords
//                                   from memory (no KDF): what the HTTP exchange itself costs
// Run directly (`node bench/logins/webhook.js`) for an interleaved keep-alive on/off comparison.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashPassword } from "@gatehouse-proxy/core";
import { repoRoot } from "../socksbench.js";

const USERS = 200;
// Cheap records: the figure is about the HTTP exchange, not the KDF (static.js measures that).
const SCRYPT = { ln: 10, r: 8, p: 1 };

// The in-memory receiver: same signature check as the reference one, then a Map lookup.
const MEMORY_RECEIVER = `
const { createHmac, timingSafeEqual } = require("node:crypto");
const { readFileSync } = require("node:fs");
const [usersFile, cert, key] = process.argv.slice(1);
const users = new Map(Object.entries(JSON.parse(readFileSync(usersFile, "utf8"))));
const secret = Buffer.from(process.env.WEBHOOK_SECRET.slice(6), "base64");
const handler = (req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const id = req.headers["webhook-id"], ts = req.headers["webhook-timestamp"];
    const mac = createHmac("sha256", secret).update(id + "." + ts + ".").update(body).digest("base64");
    if (req.headers["webhook-signature"] !== "v1," + mac) return res.writeHead(400).end();
    const { username, password } = JSON.parse(body);
    const expected = Buffer.from(users.get(username) ?? "");
    const given = Buffer.from(password);
    const ok = expected.length > 0 && expected.length === given.length && timingSafeEqual(expected, given);
    res.writeHead(ok ? 204 : 401).end();
  });
};
const server = cert ? require("node:https").createServer({ cert: readFileSync(cert), key: readFileSync(key) }, handler)
  : require("node:http").createServer(handler);
server.listen(0, "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(JSON.stringify({ event: "listening", address: address + ":" + port }));
});`;

/** A CA and a certificate for 127.0.0.1 signed by it; returns the file names. */
function makeCertificates(tmpDir) {
  const at = (name) => join(tmpDir, `webhook-${name}`);
  const openssl = (...args) => execFileSync("openssl", args, { stdio: "ignore" });
  const key = ["-newkey", "rsa:2048", "-nodes"];
  openssl("req", "-x509", ...key, "-days", "1", "-subj", "/CN=bench CA", "-keyout", at("ca.key"), "-out", at("ca.pem"));
  openssl("req", ...key, "-subj", "/CN=127.0.0.1", "-keyout", at("key.pem"), "-out", at("csr.pem"));
  writeFileSync(at("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  const ca = ["-CA", at("ca.pem"), "-CAkey", at("ca.key"), "-CAcreateserial"];
  openssl("x509", "-req", "-in", at("csr.pem"), ...ca, "-days", "1", "-extfile", at("ext.cnf"), "-out", at("cert.pem"));
  return { ca: at("ca.pem"), cert: at("cert.pem"), key: at("key.pem") };
}

/** Spawns a receiver (dies with this process) and waits for its `listening` line. */
function startReceiver(args, secret) {
  const child = spawn("setpriv", ["--pdeathsig", "TERM", process.execPath, ...args], {
    env: { ...process.env, WEBHOOK_SECRET: secret },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.on("close", resolve));
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error("the webhook receiver did not start")), 15_000);
    child.on("error", reject);
    child.stdout.setEncoding("utf8").on("data", (data) => {
      stdout += data;
      const line = stdout.split("\n").find((text) => text.includes('"listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout.removeAllListeners("data");
      child.stdout.resume();
      resolve({
        address: JSON.parse(line).address,
        // setpriv execs node: the same process.
        pid: child.pid,
        stop: async () => {
          if (child.exitCode === null) process.kill(child.pid, "SIGTERM");
          await exited;
        },
      });
    });
  });
}

export async function setup({ tmpDir }, env = process.env) {
  const keepAlive = env.BENCH_WEBHOOK_KEEP_ALIVE !== "false";
  const memory = env.BENCH_WEBHOOK_RECEIVER === "memory";
  const tls = env.BENCH_WEBHOOK_TLS === "false" ? undefined : makeCertificates(tmpDir);
  const users = Array.from({ length: USERS }, (_, i) => ({ username: `user${i}`, password: `pw-${i}-bench` }));
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  const usersFile = join(tmpDir, `webhook-users-${memory ? "memory" : "scrypt"}.json`);
  let receiver;
  if (memory) {
    writeFileSync(usersFile, JSON.stringify(Object.fromEntries(users.map((u) => [u.username, u.password]))));
    const tlsArgs = tls === undefined ? [] : [tls.cert, tls.key];
    receiver = await startReceiver(["-e", MEMORY_RECEIVER, usersFile, ...tlsArgs], secret);
  } else {
    const records = await Promise.all(users.map(({ password }) => hashPassword(password, SCRYPT)));
    const table = Object.fromEntries(users.map((u, i) => [u.username, { password: records[i], groups: ["bench"] }]));
    writeFileSync(usersFile, JSON.stringify({ users: table }));
    const script = join(repoRoot, "examples/webhook-receiver/receiver.js");
    const tlsArgs = tls === undefined ? [] : ["--cert", tls.cert, "--key", tls.key];
    receiver = await startReceiver([script, "--users", usersFile, "--listen", "127.0.0.1:0", ...tlsArgs], secret);
  }
  const endpoint =
    tls === undefined
      ? { url: `http://${receiver.address}/login`, insecure: true }
      : { url: `https://${receiver.address}/login`, tls: { ca_file: tls.ca } };
  return {
    provider: { use: "webhook", ...endpoint, secret, keep_alive: keepAlive, timeout: "10s" },
    users,
    note:
      `${memory ? "in-memory receiver (signature + Map lookup)" : `example receiver, scrypt ln=${SCRYPT.ln}`}, ` +
      `${tls === undefined ? "http" : "https (RSA 2048)"} on loopback; keep_alive ${keepAlive ? "on (pool of 32)" : "off"}`,
    close: () => receiver.stop(),
    receiverPid: receiver.pid,
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
async function processCpuSeconds(pid) {
  const { readFileSync } = await import("node:fs");
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // Fields 14 and 15 (utime, stime) in clock ticks of 1/100 s; [0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * The provider alone (no SOCKS) against one receiver, alternating keep-alive on and off in short
 * slices so both modes see the same machine load. Bounded: rounds × 2 slices of `sliceMs`.
 */
async function compareKeepAlive({ env, sliceMs, rounds, concurrency }) {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  await import("reflect-metadata");
  const { silentLogger } = await import("@gatehouse-proxy/core");
  const { wirePlugin } = await import("@gatehouse-proxy/plugin-testkit");
  const { default: plugin } = await import("@gatehouse-proxy/auth-webhook");
  const tmpDir = mkdtempSync(join(tmpdir(), "gatehouse-webhook-ab-"));
  const fixture = await setup({ tmpDir }, env);
  const options = Object.fromEntries(Object.entries(fixture.provider).filter(([key]) => key !== "use"));
  const totals = {
    on: { logins: 0, ms: 0, clientCpu: 0, receiverCpu: 0 },
    off: { logins: 0, ms: 0, clientCpu: 0, receiverCpu: 0 },
  };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of round % 2 === 0 ? ["on", "off"] : ["off", "on"]) {
        const config = { ...options, keep_alive: mode === "on" };
        const { provider } = wirePlugin(plugin, config, {
          instanceName: "bench",
          configDir: tmpDir,
          logger: silentLogger,
        });
        await provider.init();
        let next = 0;
        const start = Date.now();
        const clientCpuBefore = process.cpuUsage();
        const receiverCpuBefore = await processCpuSeconds(fixture.receiverPid);
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (Date.now() < start + sliceMs) {
              const user = fixture.users[next++ % fixture.users.length];
              const connMeta = { peer_address: "127.0.0.1:40000", local_address: "127.0.0.1:1080" };
              const request = { username: user.username, password: user.password, connMeta };
              const controller = new globalThis.AbortController();
              const timer = setTimeout(() => controller.abort(), 10_000);
              const result = await provider.authenticate(request, controller.signal).finally(() => clearTimeout(timer));
              if (result === false) throw new Error(`${user.username} was denied`);
            }
          }),
        );
        totals[mode].logins += next;
        totals[mode].ms += Date.now() - start;
        const clientCpu = process.cpuUsage(clientCpuBefore);
        totals[mode].clientCpu += (clientCpu.user + clientCpu.system) / 1e6;
        totals[mode].receiverCpu += (await processCpuSeconds(fixture.receiverPid)) - receiverCpuBefore;
        await provider.close();
      }
    }
  } finally {
    await fixture.close();
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const rate = (mode) => Number(((totals[mode].logins * 1000) / totals[mode].ms).toFixed(1));
  // CPU per login does not depend on how busy the rest of the machine is, unlike logins/s.
  const cpuMs = (mode, key) => Number(((totals[mode][key] * 1000) / totals[mode].logins).toFixed(2));
  return {
    receiver: fixture.note.replace(/; keep_alive.*/, ""),
    concurrency,
    keep_alive_per_second: rate("on"),
    new_connection_per_second: rate("off"),
    ratio: Number((rate("on") / rate("off")).toFixed(2)),
    cpu_ms_per_login: {
      keep_alive: { gatehouse_side: cpuMs("on", "clientCpu"), receiver: cpuMs("on", "receiverCpu") },
      new_connection: { gatehouse_side: cpuMs("off", "clientCpu"), receiver: cpuMs("off", "receiverCpu") },
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "2" },
      rounds: { type: "string", default: "4" },
      concurrency: { type: "string", default: "32" },
    },
  });
  const bounds = {
    sliceMs: Math.min(Number(values.seconds), 30) * 1000,
    rounds: Math.min(Number(values.rounds), 20),
    concurrency: Math.min(Number(values.concurrency), 256),
  };
  for (const flavour of [
    {},
    { BENCH_WEBHOOK_RECEIVER: "memory" },
    { BENCH_WEBHOOK_RECEIVER: "memory", BENCH_WEBHOOK_TLS: "false" },
  ]) {
    console.log(JSON.stringify(await compareKeepAlive({ env: { ...process.env, ...flavour }, ...bounds })));
  }
}
