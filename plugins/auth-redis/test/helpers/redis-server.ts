import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A port that was free a moment ago (the kernel picked it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function tempDir(): Promise<{
  path: string;
  write(name: string, text: string): Promise<string>;
  remove(): Promise<void>;
}> {
  const path = await mkdtemp(join(tmpdir(), "gatehouse-auth-redis-"));
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

/** Spawns a server that dies with the test process; resolves once `ready` appears in its output. */
function spawnUntil(
  command: string,
  args: readonly string[],
  ready: RegExp,
  timeoutMs = 10_000,
): Promise<ChildProcess> {
  const child = spawn("setpriv", ["--pdeathsig", "TERM", command, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} not ready within ${String(timeoutMs)} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        child.stdout.resume();
        child.stderr.resume();
        resolve(child);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${String(code)}:\n${output}`));
    });
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** redis-cli against this server (with its password), the reply as text. */
  cli(...args: string[]): Promise<string>;
  /** SIGKILL: gone at once, as in a crash. */
  kill(): Promise<void>;
  /** Starts again on the same port (empty: nothing is saved). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open but nothing answers. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  readonly requirepass?: string;
  readonly extraArgs?: readonly string[];
  readonly port?: number;
  readonly dir?: string;
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const owned = options.dir === undefined ? await tempDir() : undefined;
  const dir = options.dir ?? owned!.path;
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--logfile",
    "",
    ...(options.requirepass === undefined ? [] : ["--requirepass", options.requirepass]),
    ...(options.extraArgs ?? []),
  ];
  let child = await spawnUntil("redis-server", args, /Ready to accept connections/);
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${String(port)}`,
    get pid() {
      return child.pid ?? -1;
    },
    cli: (...command) => redisCli(port, options.requirepass, command),
    async kill() {
      await stopChild(child);
    },
    async restart() {
      await stopChild(child);
      child = await spawnUntil("redis-server", args, /Ready to accept connections/);
    },
    pause: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
    async stop() {
      if (child.signalCode === null && child.exitCode === null) child.kill("SIGCONT");
      await stopChild(child);
      await owned?.remove();
    },
  };
  return server;
}

export function redisCli(port: number, password: string | undefined, command: readonly string[]): Promise<string> {
  const auth = password === undefined ? [] : ["-a", password, "--no-auth-warning"];
  return new Promise((resolve, reject) => {
    execFile("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...auth, ...command], (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`redis-cli ${command.join(" ")}: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** `host:port` of every node. */
  readonly addresses: readonly string[];
  stop(): Promise<void>;
}

/** Three masters, all 16384 slots assigned, each in its own folder. */
export async function startCluster(): Promise<RedisCluster> {
  const dir = await tempDir();
  const nodes: RedisServer[] = [];
  try {
    for (let index = 0; index < 3; index++) {
      nodes.push(
        await startRedis({
          dir: dir.path,
          extraArgs: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            `nodes-${String(index)}.conf`,
            "--cluster-node-timeout",
            "2000",
          ],
        }),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${String(node.port)}`);
    await redisCli(nodes[0]!.port, undefined, [
      "--cluster",
      "create",
      ...addresses,
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    const deadline = Date.now() + 15_000;
    for (const node of nodes) {
      while (!(await node.cli("CLUSTER", "INFO")).includes("cluster_state:ok")) {
        if (Date.now() > deadline) throw new Error("the cluster did not become ok");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return {
      nodes,
      addresses,
      async stop() {
        for (const node of nodes) await node.stop();
        await dir.remove();
      },
    };
  } catch (error) {
    for (const node of nodes) await node.stop();
    await dir.remove();
    throw error;
  }
}

export interface RedisSentinel {
  readonly master: RedisServer;
  readonly sentinelPort: number;
  readonly masterName: string;
  stop(): Promise<void>;
}

/** One master and one Sentinel monitoring it (quorum 1) under the name `gatehouse-master`. */
export async function startSentinel(): Promise<RedisSentinel> {
  const master = await startRedis();
  const dir = await tempDir();
  const sentinelPort = await freePort();
  const masterName = "gatehouse-master";
  const conf = await dir.write(
    "sentinel.conf",
    [
      `port ${String(sentinelPort)}`,
      "bind 127.0.0.1",
      `dir ${dir.path}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${String(master.port)} 1`,
      `sentinel down-after-milliseconds ${masterName} 5000`,
      "",
    ].join("\n"),
  );
  let child: ChildProcess | undefined;
  try {
    child = await spawnUntil("redis-server", [conf, "--sentinel", "--logfile", ""], /\+monitor master/);
  } catch (error) {
    await master.stop();
    await dir.remove();
    throw error;
  }
  return {
    master,
    sentinelPort,
    masterName,
    async stop() {
      await stopChild(child);
      await master.stop();
      await dir.remove();
    },
  };
}

export interface Blackhole {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  stop(): Promise<void>;
}

/** A TCP server that accepts connections and never sends a byte. */
export async function startBlackhole(): Promise<Blackhole> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
