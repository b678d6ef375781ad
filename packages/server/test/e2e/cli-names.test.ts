// Hostile destination names through the real gatehouse process (issue 13 §1): names matched in
// one form and resolved in another, look-alikes of `localhost`, the unspecified address, and
// IP addresses written as names. Each attack is sent byte for byte; the test counts the
// connections a real local server accepts (none may arrive), reads the reply code, and checks
// the log shows the name escaped. A DNS server of the test's own proves that a name the
// policy denies is never looked up.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { startDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import type { TestDnsServer } from "../../../../test/dist/helpers/dns-server.js";
import { runCli, startCli } from "../helpers/cli.js";
import type { RunningCli } from "../helpers/cli.js";
import { makeFixtureDir } from "../helpers/fixtures.js";

const SUCCEEDED = 0x00;
const NOT_ALLOWED = 0x02;
const HOST_UNREACHABLE = 0x04;

/** A destination that counts the connections it accepts (and echoes). */
interface CountingServer {
  readonly port: number;
  accepted: number;
  close(): void;
}

async function startCounting(host: string): Promise<CountingServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    counting.accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.pipe(socket);
  });
  server.listen(0, host);
  await once(server, "listening");
  const counting: CountingServer = {
    port: (server.address() as AddressInfo).port,
    accepted: 0,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
  return counting;
}

async function canListen(host: string): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(0, host);
    await once(server, "listening");
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

type Destination =
  | { readonly atyp: 1; readonly address: string }
  | { readonly atyp: 3; readonly name: Buffer }
  | { readonly atyp: 4; readonly groups: readonly number[] };

/** The CONNECT request bytes, built here rather than with the engine's serializer. */
function connectRequest(destination: Destination, port: number): Buffer {
  let address: Buffer;
  if (destination.atyp === 1) address = Buffer.from([1, ...destination.address.split(".").map(Number)]);
  else if (destination.atyp === 3)
    address = Buffer.concat([Buffer.from([3, destination.name.length]), destination.name]);
  else {
    address = Buffer.alloc(17);
    address[0] = 4;
    destination.groups.forEach((group, index) => address.writeUInt16BE(group, 1 + 2 * index));
  }
  return Buffer.concat([Buffer.from([5, 1, 0]), address, Buffer.from([port >> 8, port & 0xff])]);
}

/** A no-auth CONNECT: the reply code (or "closed"), and the client's local port (to find its log record). */
async function socksConnect(
  proxyPort: number,
  destination: Destination,
  port: number,
): Promise<{ code: number | "closed"; peerPort: number }> {
  const socket = connect({ host: "127.0.0.1", port: proxyPort });
  socket.on("error", () => undefined);
  await once(socket, "connect");
  const peerPort = socket.localPort!;
  let received = Buffer.alloc(0);
  const need = async (length: number): Promise<boolean> => {
    while (received.length < length) {
      const chunk = await Promise.race([
        once(socket, "data").then(([data]) => data as Buffer),
        once(socket, "close").then(() => undefined),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000).unref()),
      ]);
      if (chunk === undefined) return false;
      received = Buffer.concat([received, chunk]);
    }
    return true;
  };
  try {
    socket.write(Buffer.from([5, 1, 0]));
    if (!(await need(2)) || received[1] !== 0) return { code: "closed", peerPort };
    received = received.subarray(2);
    socket.write(connectRequest(destination, port));
    if (!(await need(10))) return { code: "closed", peerPort };
    return { code: received[1]!, peerPort };
  } finally {
    socket.destroy();
  }
}

const name = (text: string): Destination => ({ atyp: 3, name: Buffer.from(text, "utf8") });
const ipv4 = (address: string): Destination => ({ atyp: 1, address });
const ipv6 = (...groups: number[]): Destination => ({
  atyp: 4,
  groups: [...groups, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8),
});

describe("hostile destination names through the gatehouse process", () => {
  const fixture = makeFixtureDir();
  let v4: CountingServer;
  let v6: CountingServer | undefined;
  let dns: TestDnsServer;
  let proxy: RunningCli;
  let wildcard: number;
  let documented: number;
  let loopbackDenied: number;
  let open: number;

  before(async () => {
    v4 = await startCounting("127.0.0.1");
    v6 = (await canListen("::1")) ? await startCounting("::1") : undefined;
    dns = await startDnsServer({
      records: {
        "www.example.com": { A: ["127.0.0.1"] },
        "ok.test": { A: ["127.0.0.1"] },
        "zero.test": { A: ["0.0.0.0"] },
        "secret.blocked.test": { A: ["127.0.0.1"] },
      },
    });
    const file = fixture.write(
      "names.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    name: wildcard", // issue 13: `allow to: [*.example.com]`
        "    policy:",
        "      default: deny",
        "      rules:",
        '        - { action: allow, to: ["*.example.com"] }',
        "  - listen: 127.0.0.1:0",
        "    name: documented", // the docs/policy.md example
        "    policy:",
        "      default: deny",
        "      rules:",
        '        - { action: deny, to: ["10.0.0.0/8", "127.0.0.0/8", "::1/128"] }',
        '        - { action: allow, to: ["*.partner.example"] }',
        "  - listen: 127.0.0.1:0",
        "    name: loopback-denied",
        "    policy:",
        "      default: allow",
        "      rules:",
        '        - { name: no-local-names, action: deny, to: ["localhost", "*.blocked.test"] }',
        '        - { name: no-loopback, action: deny, to: ["127.0.0.0/8", "::1/128"] }',
        "  - listen: 127.0.0.1:0",
        "    name: open",
        "    policy:",
        "      default: allow",
        "policy:",
        "  default: deny",
        "dns:",
        `  servers: ["${dns.address}"]`,
        "  timeout: 1s",
        "  tries: 1",
        "log:",
        "  level: debug",
        "shutdown_timeout: 1s",
      ].join("\n"),
    );
    proxy = await startCli(["--config", file]);
    [wildcard, documented, loopbackDenied, open] = proxy.ports as [number, number, number, number];
  });

  after(async () => {
    await proxy.stop();
    v4.close();
    v6?.close();
    await dns.close();
    fixture.remove();
  });

  /**
   * The session_end record of the client that used local port `peerPort`, logged after offset
   * `since` of stdout: the kernel may give a later client the local port of an earlier one (to a
   * different listener), so a record from before the connection must not match.
   */
  async function sessionEnd(peerPort: number, since: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const found = proxy
        .stdout()
        .slice(since)
        .split("\n")
        .filter((line) => line.includes('"event":"session_end"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((record) => String(record.peer).endsWith(`:${String(peerPort)}`));
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no session_end for port ${String(peerPort)}: ${proxy.stdout()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("the control: an allowed name and address do reach the counting server", async () => {
    const before = v4.accepted;
    const since = proxy.stdout().length;
    const clients = [
      await socksConnect(wildcard, name("www.example.com"), v4.port),
      await socksConnect(open, ipv4("127.0.0.1"), v4.port),
      await socksConnect(open, name("ok.test"), v4.port),
    ];
    assert.deepEqual(
      clients.map((client) => client.code),
      [SUCCEEDED, SUCCEEDED, SUCCEEDED],
    );
    await waitFor(() => v4.accepted === before + 3);
    // Their tunnels have ended before the attacks start, so no late record can match an attack's port.
    for (const client of clients) await sessionEnd(client.peerPort, since);
  });

  const attacks: {
    readonly what: string;
    readonly listener: () => number;
    readonly destination: Destination;
    readonly v6?: boolean;
    readonly code: number;
    readonly reason: RegExp;
    readonly shown?: string;
  }[] = [
    {
      what: "localhost\\0.example.com vs allow *.example.com",
      listener: () => wildcard,
      destination: name("localhost\0.example.com"),
      code: HOST_UNREACHABLE,
      reason: /^refused_name:bad_byte$/,
      shown: "localhost\\x00.example.com",
    },
    {
      what: "0.0.0.0\\0.partner.example vs the docs/policy.md example",
      listener: () => documented,
      destination: name("0.0.0.0\0.partner.example"),
      code: HOST_UNREACHABLE,
      reason: /^refused_name:bad_byte$/,
      shown: "0.0.0.0\\x00.partner.example",
    },
    {
      what: "fullwidth ｌｏｃａｌｈｏｓｔ vs deny localhost",
      listener: () => loopbackDenied,
      destination: name("ｌｏｃａｌｈｏｓｔ"),
      code: HOST_UNREACHABLE,
      reason: /^refused_name:bad_byte$/,
      shown:
        "\\xef\\xbd\\x8c\\xef\\xbd\\x8f\\xef\\xbd\\x83\\xef\\xbd\\x81\\xef\\xbd\\x8c\\xef\\xbd\\x88\\xef\\xbd\\x8f\\xef\\xbd\\x93\\xef\\xbd\\x94",
    },
    {
      what: "circled ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",
      listener: () => loopbackDenied,
      destination: name("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ"),
      code: HOST_UNREACHABLE,
      reason: /^refused_name:bad_byte$/,
    },
    {
      what: "local + soft hyphen + host",
      listener: () => loopbackDenied,
      destination: name("local\u00adhost"),
      code: HOST_UNREACHABLE,
      reason: /^refused_name:bad_byte$/,
      shown: "local\\xc2\\xadhost",
    },
    {
      what: "localhost\\0",
      listener: () => loopbackDenied,
      destination: name("localhost\0"),
      code: HOST_UNREACHABLE,
      reason: /^refused_name:bad_byte$/,
      shown: "localhost\\x00",
    },
    {
      what: "LOCALHOST. (case and root dot)",
      listener: () => loopbackDenied,
      destination: name("LOCALHOST."),
      code: NOT_ALLOWED,
      reason: /^policy_denied:no-local-names$/,
    },
    {
      what: "0.0.0.0 as ATYP 1",
      listener: () => loopbackDenied,
      destination: ipv4("0.0.0.0"),
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: "0.0.0.0 as ATYP 3",
      listener: () => loopbackDenied,
      destination: name("0.0.0.0"),
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: "0 as ATYP 3",
      listener: () => loopbackDenied,
      destination: name("0"),
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: "0.1.2.3 (0.0.0.0/8) as ATYP 1",
      listener: () => loopbackDenied,
      destination: ipv4("0.1.2.3"),
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: "a name that resolves to 0.0.0.0",
      listener: () => loopbackDenied,
      destination: name("zero.test"),
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: ":: as ATYP 4",
      listener: () => loopbackDenied,
      destination: ipv6(),
      v6: true,
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: ":: as ATYP 3",
      listener: () => loopbackDenied,
      destination: name("::"),
      v6: true,
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: "[::] as ATYP 3",
      listener: () => loopbackDenied,
      destination: name("[::]"),
      v6: true,
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: "0.0.0.0 even where the policy allows everything",
      listener: () => open,
      destination: ipv4("0.0.0.0"),
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    {
      what: ":: even where the policy allows everything",
      listener: () => open,
      destination: name("::"),
      v6: true,
      code: HOST_UNREACHABLE,
      reason: /^unspecified_address$/,
    },
    ...["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.0.0.1", "::ffff:127.0.0.1"].map((text) => ({
      what: `${text} as a name vs deny 127.0.0.0/8`,
      listener: () => loopbackDenied,
      destination: name(text),
      code: NOT_ALLOWED,
      reason: /^policy_denied:no-loopback$/,
    })),
    ...["::1", "[::1]", "0:0:0:0:0:0:0:1"].map((text) => ({
      what: `${text} as a name vs deny ::1/128`,
      listener: () => loopbackDenied,
      destination: name(text),
      v6: true,
      code: NOT_ALLOWED,
      reason: /^policy_denied:no-loopback$/,
    })),
    {
      what: "::1 as ATYP 4 vs deny ::1/128",
      listener: () => loopbackDenied,
      destination: ipv6(0, 0, 0, 0, 0, 0, 0, 1),
      v6: true,
      code: NOT_ALLOWED,
      reason: /^policy_denied:no-loopback$/,
    },
    {
      what: "127.1 vs the docs/policy.md example",
      listener: () => documented,
      destination: name("127.1"),
      code: NOT_ALLOWED,
      reason: /^policy_denied:/,
    },
  ];

  for (const attack of attacks) {
    it(`${attack.what}: reply ${String(attack.code).padStart(2, "0")}, nothing reaches the destination`, async (t) => {
      if (attack.v6 === true && v6 === undefined) return t.skip("::1 cannot be bound on this host");
      const target = attack.v6 === true ? v6! : v4;
      const before = { v4: v4.accepted, v6: v6?.accepted ?? 0 };
      const since = proxy.stdout().length;
      const { code, peerPort } = await socksConnect(attack.listener(), attack.destination, target.port);
      assert.equal(code, attack.code, `${attack.what}: reply`);
      const record = await sessionEnd(peerPort, since);
      assert.match(String(record.reason), attack.reason);
      if (attack.shown !== undefined) {
        assert.equal(record.destination, `${attack.shown}:${String(target.port)}`, "the name is logged escaped");
      }
      // A tunnel that slipped through would have connected by now (the reply comes after the dial).
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual({ v4: v4.accepted, v6: v6?.accepted ?? 0 }, before, "no connection reached the destination");
    });
  }

  it("no log line carries a raw control or non-ASCII byte", () => {
    const out = proxy.stdout();
    const unprintable = (text: string): boolean =>
      Array.from(text).some((char) => char !== "\n" && (char < " " || char > "~"));
    assert.equal(unprintable(out), false, "raw bytes on stdout");
    for (const line of out.split("\n").filter((text) => text.trim() !== "")) {
      // JSON may escape a control character (\u0000): the decoded values must not hold one either.
      const values: string[] = [];
      JSON.parse(line, (_key, value: unknown) => (typeof value === "string" && values.push(value), value));
      assert.equal(values.some(unprintable), false, `a control or non-ASCII character in ${line}`);
    }
  });

  it("a name the policy denies is never looked up; an allowed one is", async () => {
    const deniedBefore = dns.queries("secret.blocked.test");
    const { code } = await socksConnect(loopbackDenied, name("secret.blocked.test"), v4.port);
    assert.equal(code, NOT_ALLOWED);
    const okBefore = dns.queries("ok.test");
    // Allowed by name; resolved (127.0.0.1), then refused by the network rule on the address dialled.
    assert.equal((await socksConnect(loopbackDenied, name("ok.test"), v4.port)).code, NOT_ALLOWED);
    assert.equal((await socksConnect(open, name("other-ok.test"), v4.port)).code, HOST_UNREACHABLE, "NXDOMAIN");
    assert.ok(dns.queries("ok.test") > okBefore || okBefore > 0, "ok.test was looked up");
    assert.ok(dns.queries("other-ok.test") > 0, "other-ok.test was looked up");
    assert.equal(dns.queries("secret.blocked.test"), deniedBefore);
    assert.equal(deniedBefore, 0);
    // The refused names never reached the DNS server either.
    assert.deepEqual(
      dns.log.filter((entry) => /localhost|partner|[^\x21-\x7e]/.test(entry)),
      [],
      "no query for a refused or look-alike name",
    );
  });

  it("gatehouse policy test says what the proxy does for the same names", async () => {
    const file = fixture.write(
      "policy-test.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "policy:",
        "  default: allow",
        "  rules:",
        '    - { name: no-local-names, action: deny, to: ["localhost", "*.blocked.test"] }',
        '    - { name: no-loopback, action: deny, to: ["127.0.0.0/8", "::1/128"] }',
        "dns:",
        `  servers: ["${dns.address}"]`,
        "  timeout: 1s",
        "  tries: 1",
      ].join("\n"),
    );
    const run = (to: string) => runCli(["policy", "test", "--config", file, "--to", to]);
    const cases: [string, number, RegExp][] = [
      ["ｌｏｃａｌｈｏｓｔ:80", 1, /decision: deny\nreason: refused_name:bad_byte/],
      ["local\u00adhost:80", 1, /connect local\\xc2\\xadhost:80 .*\ndecision: deny\nreason: refused_name:bad_byte/],
      ["0.0.0.0:80", 1, /decision: deny\nreason: unspecified_address/],
      ["0:80", 1, /connect 0:80 \(address 0\.0\.0\.0\).*\ndecision: deny\nreason: unspecified_address/],
      ["[::]:80", 1, /decision: deny\nreason: unspecified_address/],
      ["zero.test:80", 1, /\(address 0\.0\.0\.0\).*\ndecision: deny\nreason: unspecified_address/],
      ["127.1:80", 1, /connect 127\.1:80 \(address 127\.0\.0\.1\).*\ndecision: deny\nrule: no-loopback/],
      ["0x7f.1:80", 1, /decision: deny\nrule: no-loopback/],
      ["2130706433:80", 1, /decision: deny\nrule: no-loopback/],
      ["LOCALHOST.:80", 1, /decision: deny\nrule: no-local-names .*\nnote: decided on the name alone: not looked up/],
      ["secret.blocked.test:80", 1, /rule: no-local-names .*\nnote: decided on the name alone: not looked up/],
      ["missing.test:80", 1, /decision: deny\nreason: dns_failed:ENOTFOUND/],
      ["192.0.2.1:80", 0, /decision: allow\nrule: default \(allow\)/],
    ];
    const before = dns.queries("secret.blocked.test");
    for (const [to, exit, output] of cases) {
      const result = await run(to);
      assert.equal(result.code, exit, `${to}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, output, to);
    }
    assert.equal(dns.queries("secret.blocked.test"), before, "policy test did not look up the denied name either");
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
