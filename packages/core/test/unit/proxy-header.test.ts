// The PROXY protocol header parser (HAProxy's doc/proxy-protocol.txt, v1 and v2): every field,
// every refusal, bytes split at every boundary, and properties over random bytes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatIssues,
  listenerOptionsSchema,
  PROXY_HEADER_MAX_BYTES,
  PROXY_V1_MAX_BYTES,
  ProxyHeaderError,
  parseProxyHeader,
  serializeProxyHeaderV1,
  serializeProxyHeaderV2,
} from "@gatehouse-proxy/core/engine";
import type { Parsed, ProxyHeader, ProxyHeaderRefusal, ProxyProtocolVersion } from "@gatehouse-proxy/core/engine";

const BOTH: readonly ProxyProtocolVersion[] = [1, 2];
const V1_ONLY: readonly ProxyProtocolVersion[] = [1];
const V2_ONLY: readonly ProxyProtocolVersion[] = [2];
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const RUNS = Number(process.env.FC_RUNS ?? 3000);

const text = (line: string): Buffer => Buffer.from(line, "latin1");

function v2(verCmd: number, family: number, body: number[]): Buffer {
  return Buffer.from([...SIGNATURE, verCmd, family, body.length >> 8, body.length & 0xff, ...body]);
}

function refusal(bytes: Uint8Array, versions = BOTH): ProxyHeaderRefusal {
  try {
    parseProxyHeader(bytes, versions);
  } catch (error) {
    assert.ok(error instanceof ProxyHeaderError, String(error));
    return error.reason;
  }
  assert.fail("expected a ProxyHeaderError");
}

/** Feeds `bytes` as the session does (growing prefixes); the result, once complete. */
function parseGrowing(bytes: Uint8Array, versions = BOTH): Parsed<ProxyHeader> | ProxyHeaderRefusal | undefined {
  for (let end = 0; end <= bytes.length; end++) {
    try {
      const parsed = parseProxyHeader(bytes.subarray(0, end), versions);
      if (parsed !== undefined) return parsed;
    } catch (error) {
      if (!(error instanceof ProxyHeaderError)) throw error;
      return error.reason;
    }
  }
  return undefined;
}

describe("PROXY protocol v1", () => {
  it("TCP4: both addresses and ports, and the bytes after the line are left alone", () => {
    const line = text("PROXY TCP4 192.0.2.10 198.51.100.1 56324 1080\r\n");
    const parsed = parseProxyHeader(Buffer.concat([line, Buffer.from([5, 1, 2])]), BOTH);
    assert.deepEqual(parsed, {
      length: line.length,
      value: {
        version: 1,
        command: "proxy",
        source: { address: "192.0.2.10", port: 56324 },
        destination: { address: "198.51.100.1", port: 1080 },
      },
    });
  });

  it("TCP6: addresses in RFC 5952 form (upper case, full groups, IPv4-mapped as IPv4)", () => {
    const parsed = parseProxyHeader(text("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:c000:20a 65535 0\r\n"), BOTH);
    assert.deepEqual(parsed?.value, {
      version: 1,
      command: "proxy",
      source: { address: "2001:db8::1", port: 65535 },
      destination: { address: "192.0.2.10", port: 0 },
    });
  });

  it("UNKNOWN, short or with anything after it: the socket's addresses stand", () => {
    for (const line of [
      "PROXY UNKNOWN\r\n",
      "PROXY UNKNOWN ffff:: ffff:: 65535 65535\r\n",
      "PROXY UNKNOWN whatever\r\n",
    ]) {
      assert.deepEqual(parseProxyHeader(text(line), BOTH), {
        length: line.length,
        value: { version: 1, command: "proxy", source: undefined, destination: undefined },
      });
    }
  });

  it("the longest line the specification allows (107 bytes) is read", () => {
    const group = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const line = text(`PROXY UNKNOWN ${group} ${group} 65535 65535\r\n`);
    assert.equal(line.length, PROXY_V1_MAX_BYTES);
    assert.equal(parseProxyHeader(line, BOTH)?.length, 107);
  });

  it("refuses what breaks the line's grammar", () => {
    const malformed = [
      "PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n", // a field missing
      "PROXY TCP4 192.0.2.10 198.51.100.1 56324 1080 x\r\n", // one too many
      "PROXY TCP4  192.0.2.10 198.51.100.1 56324 1080\r\n", // two spaces
      "PROXY TCP4 192.0.2.010 198.51.100.1 56324 1080\r\n", // leading zero
      "PROXY TCP4 192.0.2.256 198.51.100.1 56324 1080\r\n",
      "PROXY TCP4 2001:db8::1 198.51.100.1 56324 1080\r\n", // family mismatch
      "PROXY TCP6 192.0.2.10 ::1 56324 1080\r\n",
      "PROXY TCP6 ::ffff:192.0.2.10 ::1 56324 1080\r\n", // dotted quad in TCP6
      "PROXY TCP6 fe80::1%eth0 ::1 56324 1080\r\n", // a zone
      "PROXY TCP4 192.0.2.10 198.51.100.1 056324 1080\r\n", // leading zero port
      "PROXY TCP4 192.0.2.10 198.51.100.1 65536 1080\r\n",
      "PROXY TCP4 192.0.2.10 198.51.100.1 -1 1080\r\n",
      "PROXY UDP4 192.0.2.10 198.51.100.1 56324 1080\r\n",
      "PROXY tcp4 192.0.2.10 198.51.100.1 56324 1080\r\n",
      "PROXY \r\n",
      "PROXY TCP4 192.0.2.10 198.51.100.1 56324 1080\rX", // CR without LF
      "PROXY TCP4 192.0.2.10\n", // LF alone
      "PROXY TCP4 192.0.2.10\t198.51.100.1 1 2\r\n",
    ];
    for (const line of malformed) assert.equal(refusal(text(line)), "malformed", JSON.stringify(line));
  });

  it("refuses a line with no CRLF within 107 bytes, without waiting for more", () => {
    const long = text(`PROXY UNKNOWN ${"a".repeat(200)}`);
    assert.equal(parseProxyHeader(long.subarray(0, PROXY_V1_MAX_BYTES - 2), BOTH), undefined);
    // 106 bytes without a CR: a CRLF can no longer end within 107.
    assert.equal(refusal(long.subarray(0, PROXY_V1_MAX_BYTES - 1)), "oversized");
    assert.equal(refusal(text(`PROXY UNKNOWN ${"a".repeat(92)}\r\n`)), "oversized"); // CRLF at 107..108
  });

  it("a version not enabled is refused once its signature is complete", () => {
    assert.equal(parseProxyHeader(text("PROXY"), V2_ONLY), undefined);
    assert.equal(refusal(text("PROXY "), V2_ONLY), "version_not_enabled");
  });
});

describe("PROXY protocol v2", () => {
  const ipv4Body = [192, 0, 2, 10, 198, 51, 100, 1, 0xdc, 0x04, 0x04, 0x38];

  it("PROXY over TCP/IPv4: addresses, ports, and the bytes after the header left alone", () => {
    const header = v2(0x21, 0x11, ipv4Body);
    const parsed = parseProxyHeader(Buffer.concat([header, Buffer.from([5, 1, 0])]), BOTH);
    assert.deepEqual(parsed, {
      length: 28,
      value: {
        version: 2,
        command: "proxy",
        source: { address: "192.0.2.10", port: 56324 },
        destination: { address: "198.51.100.1", port: 1080 },
      },
    });
  });

  it("PROXY over TCP/IPv6, IPv4-mapped addresses shown as IPv4", () => {
    const source = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1];
    const mapped = [...new Array<number>(10).fill(0), 0xff, 0xff, 192, 0, 2, 7];
    const parsed = parseProxyHeader(v2(0x21, 0x21, [...source, ...mapped, 0, 80, 1, 187]), BOTH);
    assert.deepEqual(parsed?.value, {
      version: 2,
      command: "proxy",
      source: { address: "2001:db8::1", port: 80 },
      destination: { address: "192.0.2.7", port: 443 },
    });
  });

  it("TLVs after the addresses are skipped (their framing is checked)", () => {
    const tlvs = [0x04, 0, 3, 0, 0, 0, 0x05, 0, 2, 0xab, 0xcd, 0x30, 0, 0];
    const parsed = parseProxyHeader(v2(0x21, 0x11, [...ipv4Body, ...tlvs]), BOTH);
    assert.equal(parsed?.length, 16 + 12 + tlvs.length);
    assert.equal(parsed.value.source?.address, "192.0.2.10");
    assert.equal(refusal(v2(0x21, 0x11, [...ipv4Body, 0x04, 0])), "malformed"); // a TLV cut short
    assert.equal(refusal(v2(0x21, 0x11, [...ipv4Body, 0x04, 0, 9, 1])), "malformed"); // runs past the header
  });

  it("LOCAL: the family and the whole block are ignored (health checks)", () => {
    for (const header of [v2(0x20, 0x00, []), v2(0x20, 0x11, ipv4Body), v2(0x20, 0x31, [1, 2, 3])]) {
      assert.deepEqual(parseProxyHeader(header, BOTH), {
        length: header.length,
        value: { version: 2, command: "local", source: undefined, destination: undefined },
      });
    }
  });

  it("PROXY with AF_UNSPEC: the socket's addresses stand", () => {
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x00, [9, 9]), BOTH)?.value, {
      version: 2,
      command: "proxy",
      source: undefined,
      destination: undefined,
    });
  });

  it("refuses AF_UNIX, DGRAM, an unknown command/version/family/transport, short addresses", () => {
    assert.equal(refusal(v2(0x21, 0x31, new Array<number>(216).fill(0))), "unsupported_family");
    assert.equal(refusal(v2(0x21, 0x12, ipv4Body)), "unsupported_protocol");
    assert.equal(refusal(v2(0x21, 0x22, new Array<number>(36).fill(0))), "unsupported_protocol");
    assert.equal(refusal(v2(0x21, 0x10, ipv4Body)), "unsupported_protocol");
    assert.equal(refusal(v2(0x22, 0x11, ipv4Body)), "malformed"); // command 2
    assert.equal(refusal(v2(0x11, 0x11, ipv4Body)), "malformed"); // version 1 in the binary form
    assert.equal(refusal(v2(0x21, 0x41, ipv4Body)), "malformed"); // family 4
    assert.equal(refusal(v2(0x21, 0x13, ipv4Body)), "malformed"); // transport 3
    assert.equal(refusal(v2(0x21, 0x11, ipv4Body.slice(0, 11))), "malformed");
    assert.equal(refusal(v2(0x21, 0x21, new Array<number>(35).fill(0))), "malformed");
  });

  it("refuses a length past 536 bytes as soon as the length field arrives", () => {
    const fixed = Buffer.from([...SIGNATURE, 0x21, 0x11, 0x02, 0x09]); // 16 + 521
    assert.equal(refusal(fixed), "oversized");
    const largest = v2(0x21, 0x11, [...ipv4Body, 0x04, 0x01, 0xf9, ...new Array<number>(505).fill(0)]);
    assert.equal(largest.length, PROXY_HEADER_MAX_BYTES);
    assert.equal(parseProxyHeader(largest, BOTH)?.length, PROXY_HEADER_MAX_BYTES);
  });

  it("a version not enabled is refused once the signature and version are in", () => {
    const header = v2(0x21, 0x11, ipv4Body);
    assert.equal(parseProxyHeader(header.subarray(0, 12), V1_ONLY), undefined);
    assert.equal(refusal(header.subarray(0, 13), V1_ONLY), "version_not_enabled");
  });
});

describe("PROXY header: any stream of bytes", () => {
  it("refuses a connection that starts with anything else at its first byte (a SOCKS greeting among them)", () => {
    for (const bytes of [[5, 1, 0], [0x47], [0x50, 0x52, 0x4f, 0x58, 0x5a], [0x0d, 0x0a, 0x0d, 0x0b]]) {
      assert.equal(refusal(Buffer.from(bytes)), "missing", String(bytes));
    }
    assert.equal(parseProxyHeader(Buffer.alloc(0), BOTH), undefined);
  });

  it("the serializers' headers parse back to what they were given", () => {
    const source = { address: "2001:db8::7", port: 1 };
    const destination = { address: "2001:db8::8", port: 65535 };
    assert.deepEqual(parseProxyHeader(serializeProxyHeaderV1(source, destination), BOTH)?.value, {
      version: 1,
      command: "proxy",
      source,
      destination,
    });
    const tlvs = [{ type: 0x05, value: Buffer.from("id-1") }];
    assert.deepEqual(parseProxyHeader(serializeProxyHeaderV2(source, destination, tlvs), BOTH)?.value, {
      version: 2,
      command: "proxy",
      source,
      destination,
    });
    assert.equal(parseProxyHeader(serializeProxyHeaderV2(undefined, undefined), BOTH)?.value.command, "local");
  });

  const endpoint = (v4: boolean): fc.Arbitrary<{ address: string; port: number }> =>
    fc.record({
      address: v4 ? fc.ipV4() : fc.ipV6().filter((a) => !a.includes(".")),
      port: fc.integer({ min: 0, max: 65535 }),
    });
  const header = fc.oneof(
    fc.tuple(fc.boolean(), fc.boolean()).chain(([v4, binary]) =>
      fc
        .tuple(
          endpoint(v4),
          endpoint(v4),
          fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 40 }) }), {
            maxLength: 4,
          }),
        )
        .map(([s, d, tlvs]) => (binary ? serializeProxyHeaderV2(s, d, tlvs) : serializeProxyHeaderV1(s, d))),
    ),
    fc.constant(serializeProxyHeaderV1()),
    fc.constant(serializeProxyHeaderV2(undefined, undefined)),
  );

  it("split at every byte boundary: the same header, the same length (property)", () => {
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 8 }), (bytes, after) => {
        const stream = Buffer.concat([bytes, after]);
        const whole = parseProxyHeader(stream, BOTH);
        assert.equal(whole?.length, bytes.length);
        assert.deepEqual(parseGrowing(stream), whole);
        for (let end = 0; end < bytes.length; end++)
          assert.equal(parseProxyHeader(stream.subarray(0, end), BOTH), undefined);
      }),
      { numRuns: RUNS },
    );
  });

  it("random bytes: a header within its bound, 'more', or a ProxyHeaderError — never anything else (property)", () => {
    const near = fc.oneof(
      fc.uint8Array({ maxLength: 600 }),
      // Valid signatures followed by noise reach the deeper branches.
      fc.uint8Array({ maxLength: 120 }).map((tail) => Buffer.concat([text("PROXY "), tail])),
      fc.uint8Array({ maxLength: 120 }).map((tail) => Buffer.concat([Buffer.from(SIGNATURE), tail])),
      fc
        .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 80 }))
        .map(([verCmd, family, body]) => v2(verCmd, family, [...body])),
      fc.tuple(header, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, value]) => {
        const copy = Buffer.from(bytes);
        copy[at % copy.length] = value;
        return copy;
      }),
    );
    const versions = fc.constantFrom(BOTH, V1_ONLY, V2_ONLY);
    fc.assert(
      fc.property(near, versions, (bytes, enabled) => {
        let parsed: Parsed<ProxyHeader> | undefined;
        try {
          parsed = parseProxyHeader(bytes, enabled);
        } catch (error) {
          if (!(error instanceof ProxyHeaderError)) throw error;
          return;
        }
        if (parsed === undefined) {
          // "More" only while a header could still fit within the bound.
          assert.ok(bytes.length < PROXY_HEADER_MAX_BYTES);
          return;
        }
        assert.ok(parsed.length <= bytes.length && parsed.length <= PROXY_HEADER_MAX_BYTES);
        assert.ok(enabled.includes(parsed.value.version));
        assert.deepEqual(parseProxyHeader(bytes.subarray(0, parsed.length), enabled), parsed);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("listener option proxy_protocol", () => {
  const problems = (proxyProtocol: unknown, extra: Record<string, unknown> = {}): string[] => {
    const result = listenerOptionsSchema.safeParse({ listen: "127.0.0.1:0", proxy_protocol: proxyProtocol, ...extra });
    return result.success ? [] : formatIssues(result.error.issues, "listeners[0]");
  };

  it("accepts versions as a non-empty subset of {1, 2} (default both) and trusted addresses or CIDRs", () => {
    assert.deepEqual(problems({ trusted: ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1", "::ffff:10.1.0.0/112"] }), []);
    assert.deepEqual(problems({ versions: [2], trusted: ["10.0.0.1"] }), []);
  });

  it("names every bad value by its path", () => {
    assert.deepEqual(problems({ versions: [1, 3], trusted: ["10.0.0.0/33"] }), [
      "listeners[0].proxy_protocol.versions[1]: expected 1 or 2",
      'listeners[0].proxy_protocol.trusted[0]: "10.0.0.0/33": prefix length must be 0..32',
    ]);
    assert.deepEqual(problems({ versions: [2, 2], trusted: ["10.0.0.1"] }), [
      "listeners[0].proxy_protocol.versions: a version is listed twice",
    ]);
    assert.deepEqual(problems({ versions: [], trusted: [] }), [
      "listeners[0].proxy_protocol.versions: expected a non-empty list",
      "listeners[0].proxy_protocol.trusted: expected a non-empty list of addresses or CIDRs",
    ]);
    assert.deepEqual(problems({ versions: [1] }), ["listeners[0].proxy_protocol.trusted: required (expected array)"]);
    assert.deepEqual(problems({ trusted: ["balancer.example"] }).length, 1);
    assert.deepEqual(problems({ trusted: ["10.0.0.1"] }, { use_tls: true }), [], "the header comes before TLS");
  });
});
