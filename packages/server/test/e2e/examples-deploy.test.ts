// The deployment files of examples/deploy/ (docs/deploy.md) against the real CLI: the systemd
// unit is verified by `systemd-analyze verify` and its command lines are run as systemd would run
// them (start, reload, stop) on the fleet config with a real redis-server; the Kubernetes
// manifests are checked against that config (every ${env:...} set, ports, probes, grace period,
// the generated ConfigMap and Secret) and the config is checked with the Deployment's environment.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { startRedis } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import type { RedisServer } from "../../../../plugins/auth-redis/dist-test/helpers/redis-server.js";
import { runCli } from "../helpers/cli.js";
import { makeFixtureDir } from "../helpers/fixtures.js";
import { REPO_ROOT } from "../helpers/paths.js";
import { waitFor } from "../helpers/socks-attempt.js";

const DEPLOY = join(REPO_ROOT, "examples", "deploy");
const CONFIG = join(DEPLOY, "gatehouse.yaml");
const BIN = join(REPO_ROOT, "packages", "gatehouse-proxy", "bin", "gatehouse.js");
const read = (name: string): string => readFileSync(join(DEPLOY, name), "utf8");

/** Every NAME of `${env:NAME}` in the example config. */
function configEnvNames(): string[] {
  return [...new Set([...read("gatehouse.yaml").matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!))];
}

/** shutdown_timeout of the example config, in seconds. */
function shutdownSeconds(): number {
  const value = (parse(read("gatehouse.yaml")) as { shutdown_timeout: string }).shutdown_timeout;
  const match = /^(\d+)s$/.exec(value);
  assert.ok(match, `shutdown_timeout in seconds: ${value}`);
  return Number(match[1]);
}

function exec(file: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, output: stdout + stderr });
    });
  });
}

/** The unit's `Key=value` lines of one section, in order (a key may repeat). */
function unitSection(text: string, section: string): [string, string][] {
  const lines = text.split("\n");
  const start = lines.indexOf(`[${section}]`);
  assert.notEqual(start, -1, `[${section}]`);
  const out: [string, string][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith("[")) break;
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) out.push([match[1]!, match[2]!]);
  }
  return out;
}

describe("examples/deploy/gatehouse.service (systemd)", () => {
  const fixture = makeFixtureDir();
  let redis: RedisServer;
  let envFile: string;
  let unit: string;

  before(async () => {
    redis = await startRedis();
    envFile = fixture.write(
      "env",
      [
        "GATEHOUSE_LISTEN=127.0.0.1:0",
        "GATEHOUSE_BALANCERS=127.0.0.1/32",
        "GATEHOUSE_CLIENTS=127.0.0.2/31",
        "GATEHOUSE_ADMIN=127.0.0.1:0",
        "GATEHOUSE_ADMIN_TOKEN=systemd-test-admin-token",
        `REDIS_URL=${redis.url}`,
        "",
      ].join("\n"),
    );
    // The unit as installed on this machine: the package's bin, this env file, the example config.
    unit = fixture.write(
      "gatehouse.service",
      read("gatehouse.service")
        .replaceAll("/usr/bin/gatehouse", BIN)
        .replaceAll("/etc/gatehouse/gatehouse.yaml", CONFIG)
        .replaceAll("/etc/gatehouse/env", envFile),
    );
  });

  after(async () => {
    await redis.stop();
    fixture.remove();
  });

  it("systemd-analyze verify accepts it", async () => {
    const verified = await exec("systemd-analyze", ["verify", unit]);
    assert.equal(verified.code, 0, verified.output);
    assert.equal(verified.output.trim(), "", "no warnings");
  });

  it("its stop timeout outlasts shutdown_timeout; its fd limit leaves room for tunnels", () => {
    const service = new Map(unitSection(read("gatehouse.service"), "Service"));
    assert.ok(Number(/^(\d+)$/.exec(service.get("TimeoutStopSec") ?? "")?.[1]) > shutdownSeconds());
    assert.ok(Number(service.get("LimitNOFILE")) >= 65_536);
  });

  it("ExecStartPre, ExecStart, ExecReload and the stop run as systemd would run them", async () => {
    const service = unitSection(readFileSync(unit, "utf8"), "Service");
    const env = Object.fromEntries(
      readFileSync(envFile, "utf8")
        .split("\n")
        .filter((line) => line.includes("="))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    const argv = (line: string): string[] => line.split(" ");
    const commands = (key: string): string[][] =>
      service.filter(([name]) => name === key).map(([, value]) => argv(value));

    for (const pre of commands("ExecStartPre")) {
      const checked = await runCli(pre.slice(1), { env });
      assert.equal(checked.code, 0, checked.stderr);
      assert.match(checked.stdout, /OK/);
    }
    const [start] = commands("ExecStart");
    assert.equal(start![0], BIN);
    const child = spawn(start![0], start!.slice(1), {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (data: string) => (stdout += data));
    const exited = once(child, "close");
    try {
      await waitFor(() => stdout.includes('"event":"started"'), "the started line", 15_000);
      const [check, signal] = commands("ExecReload");
      const checked = await runCli(check!.slice(1), { env });
      assert.equal(checked.code, 0, checked.stderr);
      assert.deepEqual(signal!.slice(0, 2), ["/bin/kill", "-HUP"]);
      assert.equal(signal![2], "$MAINPID");
      process.kill(child.pid!, "SIGHUP");
      await waitFor(() => stdout.includes('"event":"config_reloaded"'), "config_reloaded", 15_000);
    } finally {
      // KillSignal defaults to SIGTERM: a drain, then exit 0.
      process.kill(child.pid!, "SIGTERM");
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, stdout);
    assert.match(stdout, /"event":"stopped"/);
  });
});

interface Container {
  readonly args: string[];
  readonly env: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
  readonly ports: { name: string; containerPort: number }[];
  readonly readinessProbe: { httpGet: { path: string; port: string } };
  readonly livenessProbe: { httpGet: { path: string; port: string } };
  readonly lifecycle: { preStop: { sleep: { seconds: number } } };
  readonly volumeMounts: { name: string; mountPath: string }[];
}

describe("examples/deploy/kubernetes.yaml + kustomization.yaml", () => {
  const documents = parseAllDocuments(read("kubernetes.yaml")).map(
    (document) => document.toJS() as { kind: string; spec: Record<string, unknown> },
  );
  const deployment = documents.find((document) => document.kind === "Deployment")!;
  const service = documents.find((document) => document.kind === "Service")!;
  const pod = (deployment.spec.template as { spec: Record<string, unknown> }).spec;
  const container = (pod.containers as Container[])[0]!;
  const kustomization = parse(read("kustomization.yaml")) as {
    resources: string[];
    configMapGenerator: { name: string; files: string[] }[];
    secretGenerator: { name: string; literals: string[] }[];
  };
  const envValue = (name: string): string | undefined => container.env.find((one) => one.name === name)?.value;
  const portOf = (address: string | undefined): number => Number(address?.split(":").at(-1));

  it("the ConfigMap is generated from gatehouse.yaml and mounted where the container's --config points", () => {
    assert.deepEqual(kustomization.resources, ["kubernetes.yaml"]);
    const generated = kustomization.configMapGenerator.find((one) => one.files.includes("gatehouse.yaml"));
    assert.ok(generated);
    const volume = (pod.volumes as { name: string; configMap?: { name: string } }[]).find(
      (one) => one.configMap?.name === generated.name,
    );
    assert.ok(volume, "a volume of the generated ConfigMap");
    const mount = container.volumeMounts.find((one) => one.name === volume.name);
    assert.ok(mount);
    assert.deepEqual(container.args, ["--config", `${mount.mountPath}/gatehouse.yaml`]);
  });

  it("every ${env:...} of gatehouse.yaml is set; the Secret reference names the generated Secret's key", () => {
    for (const name of configEnvNames()) {
      assert.ok(
        container.env.some((one) => one.name === name),
        `${name} is set in the Deployment`,
      );
    }
    for (const { valueFrom } of container.env) {
      if (valueFrom === undefined) continue;
      const secret = kustomization.secretGenerator.find((one) => one.name === valueFrom.secretKeyRef.name);
      assert.ok(secret, `a generated Secret ${valueFrom.secretKeyRef.name}`);
      assert.ok(secret.literals.some((literal) => literal.startsWith(`${valueFrom.secretKeyRef.key}=`)));
    }
  });

  it("ports and probes: SOCKS and admin ports match the config's addresses; readiness on /readyz, liveness on /healthz", () => {
    const port = (name: string): number => container.ports.find((one) => one.name === name)!.containerPort;
    assert.equal(port("socks"), portOf(envValue("GATEHOUSE_LISTEN")));
    assert.equal(port("admin"), portOf(envValue("GATEHOUSE_ADMIN")));
    assert.deepEqual(container.readinessProbe.httpGet, { path: "/readyz", port: "admin" });
    assert.deepEqual(container.livenessProbe.httpGet, { path: "/healthz", port: "admin" });
    const servicePorts = service.spec.ports as { targetPort: string }[];
    assert.deepEqual(
      servicePorts.map((one) => one.targetPort),
      ["socks"],
    );
  });

  it("a rollout never cuts capacity or a drain short", () => {
    const strategy = deployment.spec.strategy as { rollingUpdate: { maxUnavailable: number } };
    assert.equal(strategy.rollingUpdate.maxUnavailable, 0);
    assert.ok(
      (pod.terminationGracePeriodSeconds as number) > shutdownSeconds() + container.lifecycle.preStop.sleep.seconds,
    );
  });

  it("gatehouse check-config accepts the config with the Deployment's environment", async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const one of container.env) {
      if (one.value !== undefined) env[one.name] = one.value;
      else if (one.valueFrom !== undefined) {
        const literals = kustomization.secretGenerator.flatMap((secret) => secret.literals);
        const literal = literals.find((entry) => entry.startsWith(`${one.valueFrom!.secretKeyRef.key}=`))!;
        env[one.name] = literal.slice(literal.indexOf("=") + 1);
      }
    }
    const checked = await runCli(["check-config", "--config", CONFIG], { env });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /state in Redis/);
  });
});
