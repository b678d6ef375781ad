// Property-based tests of the wire codec (fast-check): whatever bytes a client sends, each
// parser gives a well-formed value, asks for more bytes, or throws a ProtocolError — nothing
// else; every serialized message parses back to itself; and the destination-name validator
// accepts exactly its grammar.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isIPv4, isIPv6 } from "node:net";
import fc from "fast-check";
import {
  Command,
  interpretDestinationName,
  parseGreeting,
  parseReply,
  parseRequest,
  parseUdpHeader,
  parseUserPass,
  serializeGreeting,
  serializeReply,
  serializeRequest,
  serializeUdpDatagram,
  serializeUdpReplyHeader,
  serializeUserPass,
} from "@gatehouse-proxy/core/engine";
import { ProtocolError, RefusedNameError } from "../../dist/protocol/errors.js";
import type { Parsed, ReplyCode, RequestAddress } from "@gatehouse-proxy/core/engine";

/** Runs per property; FC_RUNS raises it for a longer local soak. */
const RUNS = Number(process.env.FC_RUNS ?? 5000);
let totalRuns = 0;
const check = <T>(property: fc.IPropertyWithHooks<T> | fc.IProperty<T>): void => {
  fc.assert(property, { numRuns: RUNS });
  totalRuns += RUNS;
};

const NAME = /^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$/;

/** What a parser may do with any input: a value of at most the input's length, "more", or a ProtocolError. */
function outcome<T>(parse: (buf: Uint8Array) => Parsed<T> | undefined, bytes: Uint8Array): Parsed<T> | undefined {
  try {
    const parsed = parse(bytes);
    if (parsed !== undefined) {
      assert.ok(Number.isInteger(parsed.length) && parsed.length >= 2 && parsed.length <= bytes.length);
      // A message never depends on the bytes after it, and every shorter prefix asks for more.
      assert.deepEqual(parse(bytes.subarray(0, parsed.length)), parsed);
      assert.equal(parse(bytes.subarray(0, parsed.length - 1)), undefined);
    }
    return parsed;
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    assert.equal(typeof error.code, "string");
    if (error instanceof RefusedNameError) {
      assert.match(error.shown, /^[\x21-\x7e]*$/, "a refused name is shown as printable ASCII only");
      assert.ok(error.port >= 0 && error.port <= 65535);
    }
    return undefined;
  }
}

function assertWellFormedAddress(address: RequestAddress): void {
  switch (address.type) {
    case "ipv4":
      assert.ok(isIPv4(address.host), address.host);
      break;
    case "ipv6":
      assert.ok(isIPv6(address.host.split("%")[0]!), address.host);
      break;
    case "domain":
      assert.match(address.host, NAME);
      assert.ok(address.host.length <= 255);
      assert.doesNotMatch(address.host, /(^|\.)\d+$/, "an all-digit last label is never a name");
      break;
    default:
      assert.fail(`unknown address type ${JSON.stringify(address)}`);
  }
}

const label = fc.stringMatching(/^[a-zA-Z0-9_-]{1,63}$/);
/** Names in the grammar (mixed case, optional root dot), up to the 255-byte limit. */
const validName = fc
  .tuple(fc.array(label, { minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([labels, rootDot]) => labels.join(".") + (rootDot ? "." : ""))
  .filter((name) => name.length <= 255);
const hostileName = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 255 }),
  validName.chain((name) =>
    fc
      .tuple(fc.nat({ max: name.length }), fc.integer({ min: 0, max: 255 }))
      .map(([at, byte]) =>
        Buffer.concat([Buffer.from(name.slice(0, at)), Buffer.from([byte]), Buffer.from(name.slice(at))]).subarray(
          0,
          255,
        ),
      ),
  ),
  fc
    .constantFrom(
      "localhost\0.example.com",
      "0.0.0.0\0.partner.example",
      "ｌｏｃａｌｈｏｓｔ",
      "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",
      "local\u00adhost",
      "localhost\0",
      "a..b",
      ".",
      "",
    )
    .map((text) => Buffer.from(text, "utf8")),
);
const numericName = fc.oneof(
  fc.ipV4().map((ip) => ip),
  fc.ipV4Extended(),
  fc.ipV6(),
  fc.ipV6().map((ip) => `[${ip}]`),
  fc.nat().map(String),
);
const anyName = fc.oneof(
  validName.map((name) => Buffer.from(name)),
  hostileName,
  numericName.map((name) => Buffer.from(name)),
);

/** Bytes shaped like a request (version, command, reserved, ATYP) often enough to reach every branch. */
const requestLike = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(
      fc.constantFrom(5, 5, 5, 4),
      fc.constantFrom(1, 2, 3, 0, 9),
      fc.constantFrom(0, 0, 0, 1),
      fc.constantFrom(1, 3, 3, 4, 2),
      anyName,
      fc.uint8Array({ maxLength: 20 }),
    )
    .map(([version, command, reserved, atyp, name, tail]) =>
      Buffer.concat([
        Buffer.from([version, command, reserved, atyp]),
        atyp === 3 ? Buffer.from([name.length]) : Buffer.alloc(0),
        atyp === 3 ? name : Buffer.from(name.subarray(0, 16)),
        tail,
      ]),
    ),
);

describe("protocol properties (fast-check)", () => {
  it("any bytes: a greeting, more bytes, or a ProtocolError", () => {
    check(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const parsed = outcome(parseGreeting, bytes);
        if (parsed !== undefined) assert.equal(parsed.value.methods.length, parsed.length - 2);
      }),
    );
  });

  it("any bytes: RFC 1929 credentials, more bytes, or a ProtocolError", () => {
    check(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const parsed = outcome(parseUserPass, bytes);
        if (parsed !== undefined) {
          const { username, password } = parsed.value;
          assert.ok(username.length <= 255 && password.length <= 255);
          assert.equal(parsed.length, 3 + username.length + password.length);
        }
      }),
    );
  });

  it("any bytes: a well-formed request (valid command, address, port), more bytes, or a ProtocolError", () => {
    check(
      fc.property(requestLike, (bytes) => {
        const parsed = outcome(parseRequest, bytes);
        if (parsed === undefined) return;
        const { command, address, port } = parsed.value;
        assert.ok(([Command.Connect, Command.Bind, Command.UdpAssociate] as number[]).includes(command));
        assert.ok(Number.isInteger(port) && port >= 0 && port <= 65535);
        assertWellFormedAddress(address);
      }),
    );
  });

  it("any bytes: a reply, more bytes, or a ProtocolError", () => {
    check(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc
            .tuple(fc.constantFrom(1, 4, 3), fc.uint8Array({ minLength: 22, maxLength: 40 }))
            .map(([atyp, rest]) => Buffer.concat([Buffer.from([5, rest[0]!, 0, atyp]), rest.subarray(1)])),
        ),
        (bytes) => {
          const parsed = outcome(parseReply, bytes);
          if (parsed !== undefined) assert.ok(parsed.value.port >= 0 && parsed.value.port <= 65535);
        },
      ),
    );
  });

  it("every serialized reply parses back to itself (code, address, port; bytes unchanged)", () => {
    const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant(undefined));
    check(
      fc.property(fc.integer({ min: 0, max: 255 }), address, fc.integer({ min: 0, max: 65535 }), (code, host, port) => {
        const bytes = serializeReply(code as ReplyCode, host, host === undefined ? 0 : port);
        const parsed = parseReply(bytes);
        assert.ok(parsed !== undefined);
        assert.equal(parsed.length, bytes.length);
        assert.equal(parsed.value.code, code);
        assert.equal(parsed.value.port, host === undefined ? 0 : port);
        assert.notEqual(parsed.value.address.type, "domain");
        assert.deepEqual(serializeReply(code as ReplyCode, parsed.value.address.host, parsed.value.port), bytes);
        if (host !== undefined) {
          // The same address: serializing the original and the parsed host gives the same bytes.
          const mappedV4 = /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(host);
          assert.equal(parsed.value.address.type, isIPv4(host) || mappedV4 ? "ipv4" : "ipv6");
        }
      }),
    );
  });

  it("every serialized greeting, credential and request parses back to itself", () => {
    check(
      fc.property(
        fc.uint8Array({ maxLength: 255 }),
        fc.uint8Array({ maxLength: 255 }),
        fc.uint8Array({ maxLength: 255 }),
        (methods, username, password) => {
          const greeting = serializeGreeting([...methods]);
          assert.deepEqual([...parseGreeting(greeting)!.value.methods], [...methods]);
          const credentials = parseUserPass(serializeUserPass(username, password))!;
          assert.deepEqual([...credentials.value.username], [...username]);
          assert.deepEqual([...credentials.value.password], [...password]);
        },
      ),
    );
    check(
      fc.property(
        fc.constantFrom(Command.Connect, Command.Bind, Command.UdpAssociate),
        fc.oneof(
          fc.ipV4(),
          fc.ipV6(),
          validName.filter((name) => interpretDestinationName(Buffer.from(name)).kind === "name"),
        ),
        fc.integer({ min: 0, max: 65535 }),
        (command, host, port) => {
          const bytes = serializeRequest(command, host, port);
          const parsed = parseRequest(bytes)!;
          assert.equal(parsed.length, bytes.length);
          assert.equal(parsed.value.command, command);
          assert.equal(parsed.value.port, port);
          const expected = isIPv4(host) || isIPv6(host) ? host : host.toLowerCase().replace(/\.$/, "");
          assert.deepEqual(
            serializeRequest(command, parsed.value.address.host, port),
            serializeRequest(command, expected, port),
          );
        },
      ),
    );
  });

  it("any bytes: a UDP datagram header (well-formed address, payload offset within the datagram) or a refusal, never a throw", () => {
    const datagramLike = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(
          fc.constantFrom(0, 0, 0, 1),
          fc.constantFrom(0, 0, 0, 2),
          fc.constantFrom(1, 3, 3, 4, 2),
          anyName,
          fc.uint8Array({ maxLength: 20 }),
        )
        .map(([reserved, frag, atyp, name, tail]) =>
          Buffer.concat([
            Buffer.from([0, reserved, frag, atyp]),
            atyp === 3 ? Buffer.from([name.length]) : Buffer.alloc(0),
            atyp === 3 ? name : Buffer.from(name.subarray(0, 16)),
            tail,
          ]),
        ),
    );
    check(
      fc.property(datagramLike, (bytes) => {
        const header = parseUdpHeader(bytes);
        if (!header.ok) {
          assert.ok(
            ["truncated", "bad_reserved", "fragmented", "unknown_address_type", "refused_name"].includes(header.reason),
          );
          if (header.reason === "refused_name") assert.match(header.shownName!, /^[\x21-\x7e]*$/);
          if (bytes.length >= 4 && (bytes[0] !== 0 || bytes[1] !== 0)) assert.equal(header.reason, "bad_reserved");
          return;
        }
        assert.equal(bytes[2], 0, "only FRAG 0 is accepted");
        assert.ok(header.length >= 8 && header.length <= bytes.length);
        assert.ok(header.port >= 0 && header.port <= 65535);
        assertWellFormedAddress(header.address);
        // The same validation as a TCP request with that address.
        const asRequest = parseRequest(Buffer.concat([Buffer.from([5, 1]), bytes.subarray(2, header.length)]));
        assert.deepEqual(asRequest?.value.address, header.address);
      }),
    );
  });

  it("every serialized UDP datagram and reply header parses back to itself; FRAG ≠ 0 is refused", () => {
    check(
      fc.property(
        fc.oneof(
          fc.ipV4(),
          fc.ipV6(),
          validName.filter((name) => interpretDestinationName(Buffer.from(name)).kind === "name"),
        ),
        fc.integer({ min: 0, max: 65535 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 255 }),
        (host, port, payload, frag) => {
          const datagram = serializeUdpDatagram(host, port, payload);
          const header = parseUdpHeader(datagram);
          assert.ok(header.ok);
          assert.equal(header.port, port);
          assert.deepEqual([...datagram.subarray(header.length)], [...payload]);
          const expected = isIPv4(host) || isIPv6(host) ? host : host.toLowerCase().replace(/\.$/, "");
          assert.deepEqual(
            serializeUdpDatagram(header.address.host, port, payload),
            serializeUdpDatagram(expected, port, payload),
          );
          assert.deepEqual(parseUdpHeader(serializeUdpDatagram(host, port, payload, { frag })), {
            ok: false,
            reason: "fragmented",
          });
          if (!isIPv4(host) && !isIPv6(host)) return;
          const reply = parseUdpHeader(Buffer.concat([serializeUdpReplyHeader(host, port), payload]));
          assert.ok(reply.ok);
          assert.deepEqual({ host: reply.address.host, port: reply.port }, { host: header.address.host, port });
        },
      ),
    );
  });

  it("the name validator: accepted names satisfy the grammar and keep their meaning", () => {
    check(
      fc.property(anyName, (bytes) => {
        const result = interpretDestinationName(bytes);
        const text = Buffer.from(bytes).toString("latin1");
        switch (result.kind) {
          case "name":
            assert.match(result.host, NAME);
            assert.ok(result.host.length <= 255);
            assert.equal(result.host, text.toLowerCase().replace(/\.$/, ""));
            assert.ok(
              bytes.every((byte) => byte < 0x80),
              "only ASCII is accepted",
            );
            break;
          case "ipv4":
            assert.ok(isIPv4(result.host));
            break;
          case "ipv6":
            assert.ok(isIPv6(result.host.split("%")[0]!));
            assert.ok(text.includes(":"));
            break;
          case "refused":
            assert.ok(
              bytes.length === 0 || !NAME.test(text.toLowerCase().replace(/\.$/, "")) || /(^|\.)\d+\.?$/.test(text),
            );
            break;
        }
      }),
    );
  });

  it("the name validator: every name in the grammar is accepted (a name, or an address when numeric)", () => {
    check(
      fc.property(validName, (name) => {
        const result = interpretDestinationName(Buffer.from(name));
        const labels = name.replace(/\.$/, "").split(".");
        // inet_aton forms (decimal, octal, hex parts such as `0xa`) are addresses: the glibc
        // differential test pins which; here, only that nothing else becomes one.
        const numericParts = labels.length <= 4 && labels.every((label) => /^(0x[0-9a-f]*|\d+)$/i.test(label));
        if (result.kind === "ipv4") assert.ok(numericParts, `${name} read as an address`);
        else if (/^\d+$/.test(labels.at(-1)!)) assert.equal(result.kind, "refused");
        else assert.deepEqual(result, { kind: "name", host: name.toLowerCase().replace(/\.$/, "") });
      }),
    );
  });

  it("the name validator: a byte outside letters, digits, - _ . is refused unless the whole is an IPv6 literal", () => {
    check(
      fc.property(hostileName, (bytes) => {
        const result = interpretDestinationName(bytes);
        const outside = bytes.some((byte) => !/[A-Za-z0-9_.-]/.test(String.fromCharCode(byte)));
        if (outside && result.kind !== "ipv6") assert.equal(result.kind, "refused");
      }),
    );
  });

  it(`ran ${String(RUNS)} cases per property`, (t) => {
    t.diagnostic(`fast-check runs in total: ${String(totalRuns)}`);
    assert.ok(totalRuns >= RUNS * 11);
  });
});
