// Destination names: the hostile dictionary of issue 13, and the oracle's model of what the
// proxy must make of an ATYP 3 name (refuse it, treat it as an IP address, or resolve it).
import { Buffer } from "node:buffer";
import { isIPv6 } from "node:net";
import { ipv6Bytes } from "./socks-bytes.js";

const label63 = "a".repeat(63);
/** `a.a.a...` of exactly `length` bytes with labels of at most 63 bytes. */
function longName(length, labelLength = 63) {
  const labels = [];
  let size = 0;
  while (size < length) {
    const room = length - size - (labels.length > 0 ? 1 : 0);
    const take = Math.min(labelLength, room);
    if (take <= 0) break;
    labels.push("b".repeat(take));
    size += take + (labels.length > 1 ? 1 : 0);
  }
  return labels.join(".");
}

/** Names an attacker sends to dodge name rules or reach loopback (issue 13 §1), as strings. */
export const HOSTILE_NAMES = [
  "localhost\0.example.com",
  "0.0.0.0\0.example.com",
  "127.0.0.1\0.example.com",
  "ok.example.com\0",
  "localhost\0",
  "\0localhost",
  "ｌｏｃａｌｈｏｓｔ",
  "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",
  "local\u00adhost",
  "local\u200bhost",
  "LOCALHOST",
  "localhost.",
  "Localhost..",
  "foo.localhost",
  "localhost.example.com\u3002",
  "ok\u3002example\u3002com",
  "0",
  "00",
  "0.0.0.0",
  "0.0.0.0.",
  "0.1.2.3",
  "::",
  "[::]",
  "::0",
  "0:0:0:0:0:0:0:0",
  "::ffff:0.0.0.0",
  "::1",
  "[::1]",
  "::1%lo",
  "[::1%lo]",
  "::ffff:127.0.0.1",
  "::ffff:7f00:1",
  "127.1",
  "127.0.1",
  "0x7f.1",
  "0x7f000001",
  "0177.0.0.1",
  "017700000001",
  "2130706433",
  "127.0.0.1.",
  "127.000.000.001",
  "zero.example.com",
  "mapped.example.com",
  "ok.example.com",
  "OK.EXAMPLE.COM.",
  "v6.example.com",
  "far.example.com",
  "lo.partner.test",
  `${label63}a.example.com`,
  `${label63}.example.com`,
  "a..example.com",
  ".example.com",
  ".",
  "..",
  "ok.example.com..",
  "ok.example.com ",
  " ok.example.com",
  "ok.example.com\r\nHost: x",
  "ok.example.com:7007",
  "ok.example.com/",
  "ok.example.com%00",
  "ok_example.com",
  "-ok.example.com",
  "xn--lcalhost-9za.example.com",
  longName(255),
  longName(254),
  `${longName(240, 62)}.${"c".repeat(14)}`,
  `${longName(180)}.${"d".repeat(64)}`,
  "\u00ff\u00fe",
  "\ufffd",
];

/** The hostile names as the bytes a client sends (UTF-8), all at most 255 bytes. */
export const HOSTILE_NAME_BYTES = HOSTILE_NAMES.map((name) => Uint8Array.from(Buffer.from(name, "utf8"))).filter(
  (bytes) => bytes.length <= 255,
);

/**
 * What the proxy must do with an ATYP 3 name, per issue 13 §1:
 * - `{kind: "address", ip: {family: 4|6, bytes}}`: an IP address in a form the system resolver
 *   accepts; it is then treated as ATYP 1/4.
 * - `{kind: "invalid", why}`: refused (reply 04), never resolved nor dialled.
 * - `{kind: "name", name}`: valid; `name` lower-cased without its trailing dot.
 */
export function classifyName(bytes) {
  const ascii = bytes.every((byte) => byte >= 0x21 && byte <= 0x7e);
  const text = Buffer.from(bytes).toString("latin1");
  if (ascii) {
    const literal = parseIpLiteral(text.endsWith(".") ? text.slice(0, -1) : text);
    if (literal !== undefined) return { kind: "address", ip: literal };
  }
  if (bytes.length < 1 || bytes.length > 255) return { kind: "invalid", why: "length" };
  if (!/^[A-Za-z0-9_.-]+$/.test(text)) return { kind: "invalid", why: "character" };
  const name = (text.endsWith(".") ? text.slice(0, -1) : text).toLowerCase();
  const labels = name.split(".");
  if (labels.some((label) => label.length === 0)) return { kind: "invalid", why: "empty label" };
  if (labels.some((label) => label.length > 63)) return { kind: "invalid", why: "label over 63 bytes" };
  return { kind: "name", name };
}

/** IPv4 in any inet_aton form (1–4 parts, decimal/octal/hex), or IPv6 (bracketed, zoned). */
export function parseIpLiteral(text) {
  const v4 = parseInetAton(text);
  if (v4 !== undefined) return { family: 4, bytes: v4 };
  let inner = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = inner.indexOf("%");
  if (zone > 0) inner = inner.slice(0, zone);
  if (!isIPv6(inner)) return undefined;
  const bytes = ipv6Bytes(inner);
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family: 4, bytes: bytes.slice(12) } : { family: 6, bytes };
}

function parseInetAton(text) {
  const parts = text.split(".");
  if (parts.length < 1 || parts.length > 4) return undefined;
  const values = [];
  for (const part of parts) {
    let value;
    if (/^0x[0-9a-f]+$/i.test(part)) value = parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return undefined;
    values.push(value);
  }
  const last = values.pop();
  if (values.some((value) => value > 255)) return undefined;
  if (last >= 2 ** (8 * (4 - values.length))) return undefined;
  const out = [...values];
  for (let i = 3 - values.length; i >= 0; i--) out.push(Math.floor(last / 2 ** (8 * i)) % 256);
  return out;
}
