// KumoMTA's BIND through the real `gatehouse` process, byte by byte: a source port other than 0
// is refused (02, rule source_port_not_named) unless an allowing policy rule's `source:`
// entry names it; then the CONNECT that follows really leaves from that port.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { makeFixtureDir, staticAuthLines } from "../helpers/fixtures.js";

const PASSWORD = "alice-Pw-1";

/** Reads exactly `length` bytes (fewer only when the proxy closed first). */
type Reader = (length: number) => Promise<Buffer>;

function readerOf(socket: Socket): Reader {
  let buffered = Buffer.alloc(0);
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    notify();
  });
  socket.on("close", () => {
    closed = true;
    notify();
  });
  return async (length) => {
    while (buffered.length < length && !closed) await new Promise<void>((resolve) => (wake = resolve));
    const out = buffered.subarray(0, Math.min(length, buffered.length));
    buffered = buffered.subarray(out.length);
    return out;
  };
}

function ipv4Request(command: number, host: string, port: number): Buffer {
  return Buffer.from([0x05, command, 0x00, 0x01, ...host.split(".").map(Number), port >> 8, port & 0xff]);
}

/** Logs in as alice and sends BIND host:port; resolves with the reply and the open socket. */
async function bind(
  proxyPort: number,
  host: string,
  port: number,
): Promise<{ code: number; socket: Socket; read: Reader }> {
  const socket = connect({ host: "127.0.0.1", port: proxyPort });
  socket.on("error", () => undefined);
  const read = readerOf(socket);
  await once(socket, "connect");
  const user = Buffer.from("alice");
  const pass = Buffer.from(PASSWORD);
  socket.write(
    Buffer.concat([
      Buffer.from([0x05, 0x01, 0x02, 0x01, user.length]),
      user,
      Buffer.from([pass.length]),
      pass,
      ipv4Request(0x02, host, port),
    ]),
  );
  const head = await read(4);
  assert.deepEqual([...head], [0x05, 0x02, 0x01, 0x00], "method 02 and login accepted");
  const reply = await read(10);
  assert.equal(reply.length, 10, `a full-length reply, got ${reply.toString("hex")}`);
  return { code: reply[1]!, socket, read };
}

/** A free TCP port on `host` (listened on and closed again). */
async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function policyDenials(proxy: RunningCli): Record<string, unknown>[] {
  return proxy
    .stdout()
    .split("\n")
    .filter((line) => line.includes('"event":"policy_denied"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("BIND source ports in the gatehouse process", () => {
  const fixture = makeFixtureDir();
  let aliceRecord: string;
  let destination: Server;
  let seen: { address: string | undefined; port: number | undefined }[];
  before(async () => {
    aliceRecord = await hashPassword(PASSWORD);
    seen = [];
    destination = createServer((socket) => {
      seen.push({ address: socket.remoteAddress, port: socket.remotePort });
      socket.end("hi");
    });
    await new Promise<void>((resolve) => destination.listen(0, "127.0.0.1", resolve));
  });
  after(() => {
    destination.close();
    fixture.remove();
  });

  const config = (name: string, policy: string[]): string =>
    fixture.write(
      name,
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        ...staticAuthLines(aliceRecord),
        ...policy,
      ].join("\n"),
    );

  it("without a policy: port 0 is allowed, any other port is refused with 02", async () => {
    const proxy = await startCli(["--config", config("no-policy.yaml", [])]);
    try {
      const port = proxy.ports[0]!;
      const zero = await bind(port, "127.0.0.1", 0);
      assert.equal(zero.code, 0x00);
      zero.socket.destroy();
      for (const asked of [25, 2525]) {
        const refused = await bind(port, "127.0.0.1", asked);
        assert.equal(refused.code, 0x02, `BIND 127.0.0.1:${String(asked)}`);
        refused.socket.destroy();
      }
    } finally {
      await proxy.stop("SIGTERM");
    }
    const denials = policyDenials(proxy);
    assert.deepEqual(
      denials.map((line) => [line.rule, line.reason, line.command, line.destination]),
      [
        ["source_port_not_named", "source_port_not_named", "bind", "127.0.0.1:25"],
        ["source_port_not_named", "source_port_not_named", "bind", "127.0.0.1:2525"],
      ],
    );
  });

  it("a port named by an allowing source: entry is granted and the CONNECT leaves from it; others are refused", async () => {
    const named = await freePort("127.0.0.5");
    const proxy = await startCli([
      "--config",
      config("named.yaml", [
        "policy:",
        "  default: allow",
        "  rules:",
        "    - name: mta-source-port",
        "      action: allow",
        "      command: bind",
        `      source: ["127.0.0.5:${String(named)}"]`,
      ]),
    ]);
    try {
      const port = proxy.ports[0]!;
      const granted = await bind(port, "127.0.0.5", named);
      assert.equal(granted.code, 0x00);
      granted.socket.write(ipv4Request(0x01, "127.0.0.1", (destination.address() as AddressInfo).port));
      const connected = await granted.read(10);
      assert.equal(connected[1], 0x00, "CONNECT after the BIND");
      assert.equal(connected.readUInt16BE(8), named, "the reply carries the bound source port");
      assert.equal((await granted.read(2)).toString(), "hi");
      granted.socket.destroy();
      assert.deepEqual(seen.at(-1), { address: "127.0.0.5", port: named }, "what the destination saw");

      // The next port is not named: the default allows the BIND, but not the port.
      const other = await bind(port, "127.0.0.5", named === 65535 ? named - 1 : named + 1);
      assert.equal(other.code, 0x02);
      other.socket.destroy();
      // Port 0 needs no naming.
      const zero = await bind(port, "127.0.0.6", 0);
      assert.equal(zero.code, 0x00);
      zero.socket.destroy();
    } finally {
      await proxy.stop("SIGTERM");
    }
    assert.deepEqual(
      policyDenials(proxy).map((line) => line.rule),
      ["source_port_not_named"],
    );
  });

  it("gatehouse policy test --source IP:PORT says the same", async () => {
    const file = config("policy-test.yaml", [
      "policy:",
      "  default: allow",
      "  rules:",
      "    - { name: mta-port, action: allow, command: bind, source: ['127.0.0.5:2525'] }",
    ]);
    const test = (source: string) =>
      runCli(["policy", "test", "--config", file, "--user", "alice", "--command", "bind", "--source", source]);
    const named = await test("127.0.0.5:2525");
    assert.equal(named.code, 0, named.stdout + named.stderr);
    assert.match(named.stdout, /rule: mta-port/);
    const other = await test("127.0.0.5:25");
    assert.equal(other.code, 1, other.stdout + other.stderr);
    assert.match(other.stdout, /decision: deny\nrule: source_port_not_named/);
    assert.equal((await test("127.0.0.5")).code, 0);
  });

  it("check-config reports a bad source port with its path", async () => {
    const file = config("bad-source.yaml", [
      "policy:",
      "  rules:",
      "    - action: allow",
      '      source: ["127.0.0.5:70000", "[::1]:25", "127.0.0.0/8:1024-2047"]',
    ]);
    const result = await runCli(["check-config", file]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /policy\.rules\[0\]\.source\[0\].*70000/);
    assert.doesNotMatch(result.stderr, /source\[1\]|source\[2\]/);
  });
});
