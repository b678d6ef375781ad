import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Command,
  Reply,
  parseGreeting,
  parseRequest,
  parseUserPass,
  serializeGreeting,
  serializeReply,
  serializeRequest,
  serializeUserPass,
} from "@gatehouse-proxy/core/engine";
import { ProtocolError, RefusedNameError } from "../../dist/protocol/errors.js";
import type { RequestAddress } from "@gatehouse-proxy/core/engine";

/** Feeds a message one byte more at a time: every proper prefix must ask for more bytes. */
function parseIncrementally<T>(parse: (buf: Uint8Array) => { value: T; length: number } | undefined, bytes: Buffer) {
  for (let end = 0; end < bytes.length; end++) {
    assert.equal(parse(bytes.subarray(0, end)), undefined, `prefix of ${String(end)} bytes parsed early`);
  }
  const parsed = parse(bytes);
  assert.ok(parsed);
  assert.equal(parsed.length, bytes.length);
  return parsed.value;
}

describe("greeting", () => {
  it("parses byte by byte and leaves pipelined bytes alone", () => {
    const greeting = serializeGreeting([0x00, 0x01, 0x02]);
    assert.deepEqual([...parseIncrementally(parseGreeting, greeting).methods], [0, 1, 2]);
    const pipelined = Buffer.concat([greeting, Buffer.from([0x01, 0x02])]);
    assert.equal(parseGreeting(pipelined)?.length, 5);
  });

  it("accepts NMETHODS 0 and 255", () => {
    assert.equal(parseGreeting(Buffer.from([5, 0]))?.value.methods.length, 0);
    const all = serializeGreeting(Array.from({ length: 255 }, (_, i) => i));
    assert.equal(parseIncrementally(parseGreeting, all).methods.length, 255);
  });

  it("rejects a version other than 5 from the first byte", () => {
    assert.throws(
      () => parseGreeting(Buffer.from([4])),
      (error: unknown) => (error as ProtocolError).code === "bad_version",
    );
  });
});

describe("RFC 1929 credentials", () => {
  it("parses 0..255-byte fields byte-exact", () => {
    for (const [user, pass] of [
      [Buffer.alloc(0), Buffer.alloc(0)],
      [Buffer.alloc(255, 0xc3), Buffer.alloc(255, 0x00)],
      [Buffer.from("proxyuser"), Buffer.from("secret\u0000pw")],
    ] as const) {
      const value = parseIncrementally(parseUserPass, serializeUserPass(user, pass));
      assert.deepEqual(Buffer.from(value.username), user);
      assert.deepEqual(Buffer.from(value.password), pass);
    }
  });

  it("rejects sub-negotiation version 5", () => {
    assert.throws(() => parseUserPass(Buffer.from([5, 1, 0x61])), { name: "ProtocolError" });
  });

  it("refuses to build fields longer than 255 bytes", () => {
    assert.throws(() => serializeUserPass(Buffer.alloc(256), Buffer.alloc(1)), RangeError);
  });
});

describe("request", () => {
  it("parses IPv4, IPv6 and domain names incrementally", () => {
    const v4 = parseIncrementally(parseRequest, serializeRequest(Command.Connect, "10.1.2.3", 25));
    assert.deepEqual(v4, { command: 1, address: { type: "ipv4", host: "10.1.2.3" }, port: 25 });
    const v6 = parseIncrementally(parseRequest, serializeRequest(Command.Connect, "2001:db8::1", 443));
    assert.deepEqual(v6.address, { type: "ipv6", host: "2001:db8::1" });
    const name = parseIncrementally(parseRequest, serializeRequest(Command.Bind, "mx.example.com", 65535));
    assert.deepEqual(name, { command: 2, address: { type: "domain", host: "mx.example.com" }, port: 65535 });
  });

  it("reads an IP literal sent as a domain name as that address (treated exactly as ATYP 1/4)", () => {
    const parsed = parseRequest(serializeRequest(Command.Connect, "127.0.0.1", 80, true));
    assert.deepEqual(parsed?.value.address, { type: "ipv4", host: "127.0.0.1" });
  });

  it("formats IPv6 in RFC 5952 form", () => {
    for (const [input, expected] of [
      ["0:0:0:0:0:0:0:1", "::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["fe80::", "fe80::"],
      ["::ffff:1.2.3.4", "::ffff:102:304"],
      ["1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"],
    ] as const) {
      assert.equal(parseRequest(serializeRequest(Command.Connect, input, 1))?.value.address.host, expected);
    }
  });

  it("reports unknown address types as soon as the type byte arrives", () => {
    assert.throws(
      () => parseRequest(Buffer.from([5, 1, 0, 2])),
      (error: unknown) => (error as ProtocolError).code === "unknown_address_type",
    );
  });

  it("reports an unknown command only once the request is complete", () => {
    const bytes = serializeRequest(0x09, "1.2.3.4", 80);
    assert.equal(parseRequest(bytes.subarray(0, bytes.length - 1)), undefined);
    assert.throws(
      () => parseRequest(bytes),
      (error: unknown) => (error as ProtocolError).code === "unknown_command",
    );
  });

  it("rejects a non-zero reserved byte and an empty domain name", () => {
    assert.throws(() => parseRequest(Buffer.from([5, 1, 1, 1, 0, 0, 0, 0, 0, 0])), { name: "ProtocolError" });
    assert.throws(() => parseRequest(Buffer.from([5, 1, 0, 3, 0, 0, 80])), {
      name: "RefusedNameError",
      code: "refused_name",
      reason: "empty_name",
    });
  });
});

describe("destination names (ATYP 3)", () => {
  const named = (name: string | Buffer, port = 80): Buffer => {
    const bytes = typeof name === "string" ? Buffer.from(name, "utf8") : name;
    return Buffer.concat([Buffer.from([5, 1, 0, 3, bytes.length]), bytes, Buffer.from([port >> 8, port & 0xff])]);
  };

  it("refuses look-alikes and embedded NULs once the request is complete, shown escaped", () => {
    const cases: [string, string, string][] = [
      ["localhost\0.example.com", "bad_byte", "localhost\\x00.example.com"],
      ["0.0.0.0\0.partner.example", "bad_byte", "0.0.0.0\\x00.partner.example"],
      ["localhost\0", "bad_byte", "localhost\\x00"],
      [
        "ｌｏｃａｌｈｏｓｔ",
        "bad_byte",
        "\\xef\\xbd\\x8c\\xef\\xbd\\x8f\\xef\\xbd\\x83\\xef\\xbd\\x81\\xef\\xbd\\x8c\\xef\\xbd\\x88\\xef\\xbd\\x8f\\xef\\xbd\\x93\\xef\\xbd\\x94",
      ],
      ["local\u00adhost", "bad_byte", "local\\xc2\\xadhost"],
      ["ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "bad_byte", ""],
      ["mail example.com", "bad_byte", "mail\\x20example.com"],
      ["a\nb", "bad_byte", "a\\x0ab"],
      ["a..example.com", "empty_label", "a..example.com"],
      [".example.com", "empty_label", ".example.com"],
      ["example.com..", "empty_label", "example.com.."],
      [".", "empty_name", "."],
      [`${"a".repeat(64)}.example.com`, "label_too_long", `${"a".repeat(64)}.example.com`],
      ["1.2.3.4.5", "numeric_tld", "1.2.3.4.5"],
      ["127.0.0.1.", "numeric_tld", "127.0.0.1."],
      ["[127.0.0.1]", "bad_byte", "[127.0.0.1]"],
      ["::1%lo", "bad_byte", "::1%lo"],
    ];
    for (const [name, reason, shown] of cases) {
      const bytes = named(name, 443);
      assert.equal(parseRequest(bytes.subarray(0, bytes.length - 1)), undefined, name);
      assert.throws(
        () => parseRequest(bytes),
        (error: unknown) => {
          assert.ok(error instanceof RefusedNameError, name);
          assert.equal(error.reason, reason, name);
          if (shown !== "") assert.equal(error.shown, shown);
          assert.match(error.shown, /^[\x21-\x7e]+$/);
          assert.equal(error.port, 443);
          return true;
        },
      );
    }
  });

  it("accepts names in the grammar, lower-cased without the root's dot", () => {
    const cases: [string, string][] = [
      ["Example.COM.", "example.com"],
      ["_dmarc.example.com", "_dmarc.example.com"],
      ["xn--bcher-kva.example", "xn--bcher-kva.example"],
      ["-weird-.example", "-weird-.example"],
      ["localhost", "localhost"],
      ["0x", "0x"],
      [`${"a".repeat(63)}.b`, `${"a".repeat(63)}.b`],
    ];
    for (const [name, host] of cases) {
      assert.deepEqual(parseRequest(named(name))?.value.address, { type: "domain", host }, name);
    }
  });

  it("reads a name that is an IP address in any form glibc accepts as that address", () => {
    const cases: [string, RequestAddress][] = [
      ["127.1", { type: "ipv4", host: "127.0.0.1" }],
      ["0x7f.1", { type: "ipv4", host: "127.0.0.1" }],
      ["0X7F.0.0.1", { type: "ipv4", host: "127.0.0.1" }],
      ["2130706433", { type: "ipv4", host: "127.0.0.1" }],
      ["0177.0.0.1", { type: "ipv4", host: "127.0.0.1" }],
      ["0", { type: "ipv4", host: "0.0.0.0" }],
      ["10.0x10203", { type: "ipv4", host: "10.1.2.3" }],
      ["::ffff:127.0.0.1", { type: "ipv6", host: "::ffff:7f00:1" }],
      ["[::1]", { type: "ipv6", host: "::1" }],
      ["::", { type: "ipv6", host: "::" }],
      ["FE80::1%lo", { type: "ipv6", host: "fe80::1%lo" }],
      ["[fe80::1%2]", { type: "ipv6", host: "fe80::1%2" }],
    ];
    for (const [name, address] of cases) assert.deepEqual(parseRequest(named(name))?.value.address, address, name);
  });

  it("reads PySocks's UDP ASSOCIATE to the name 0 as 0.0.0.0", () => {
    const bytes = Buffer.from([5, Command.UdpAssociate, 0, 3, 1, 0x30, 0, 0]);
    assert.deepEqual(parseRequest(bytes)?.value, {
      command: Command.UdpAssociate,
      address: { type: "ipv4", host: "0.0.0.0" },
      port: 0,
    });
  });
});

describe("reply", () => {
  it("is always full length with ATYP 1 or 4", () => {
    assert.deepEqual([...serializeReply(Reply.CommandNotSupported)], [5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...serializeReply(Reply.Succeeded, "192.0.2.1", 1080)], [5, 0, 0, 1, 192, 0, 2, 1, 4, 56]);
    assert.deepEqual([...serializeReply(Reply.Succeeded, "::ffff:127.0.0.2", 80)], [5, 0, 0, 1, 127, 0, 0, 2, 0, 80]);
    const v6 = serializeReply(Reply.Succeeded, "2001:db8::7", 443);
    assert.equal(v6.length, 22);
    assert.equal(v6[3], 4);
    assert.equal(v6.subarray(4, 20).toString("hex"), "20010db8000000000000000000000007");
    assert.equal(v6.readUInt16BE(20), 443);
  });

  it("round-trips through the request parser's address formatting", () => {
    for (const host of ["::1", "fe80::1:2", "2001:db8:1:2:3:4:5:6"]) {
      const reply = serializeReply(Reply.Succeeded, host, 9);
      const asRequest = Buffer.concat([Buffer.from([5, 1, 0]), reply.subarray(3)]);
      assert.equal(parseRequest(asRequest)?.value.address.host, host);
    }
  });
});
