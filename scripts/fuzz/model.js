// The oracle's model of the proxy: parses the exact bytes a case sent the way an RFC 1928/1929
// server must (so a mutated case is judged by what the proxy received, not by what the
// generator meant), and says which CONNECTs the proxy must refuse under the fuzz policy.
import { Buffer } from "node:buffer";
import { classifyName, parseIpLiteral } from "./names.js";
import { ALLOWED_PORT, DNS_RECORDS, TRAP_PORT, USERNAME } from "./topology.js";

/**
 * @returns {{
 *   owed: number,          replies the proxy owes for the bytes sent (0-3)
 *   complete: boolean,     true when the proxy has all it needs to send the last owed reply
 *   method?: number,       the method the proxy must choose (2 or 0xff)
 *   authOk?: boolean,      whether the credentials are the valid ones
 *   password?: [number, number],  where the password the proxy parsed lies in `sent`
 *   request?: {command, atyp, nameBytes?, ip?, port},
 *   error?: string,        the protocol error the proxy must stop at
 * }}
 */
export function parseSent(sent, validPassword) {
  const out = { owed: 0, complete: false };
  // Greeting
  if (sent.length < 1) return out;
  if (sent[0] !== 5) return { ...out, error: "greeting version" };
  if (sent.length < 2 || sent.length < 2 + sent[1]) return out;
  const methods = sent.subarray(2, 2 + sent[1]);
  let pos = 2 + sent[1];
  out.owed = 1;
  out.method = methods.includes(2) ? 2 : 0xff;
  out.complete = true;
  if (out.method === 0xff) return out;
  // RFC 1929
  out.complete = false;
  if (sent.length < pos + 1) return out;
  if (sent[pos] !== 1) return { ...out, error: "auth version" };
  if (sent.length < pos + 2) return out;
  const ulen = sent[pos + 1];
  if (sent.length < pos + 3 + ulen) return out;
  const plen = sent[pos + 2 + ulen];
  if (sent.length < pos + 3 + ulen + plen) return out;
  const username = Buffer.from(sent.subarray(pos + 2, pos + 2 + ulen));
  const passwordStart = pos + 3 + ulen;
  const password = Buffer.from(sent.subarray(passwordStart, passwordStart + plen));
  out.password = [passwordStart, passwordStart + plen];
  out.authOk = username.equals(Buffer.from(USERNAME)) && password.equals(Buffer.from(validPassword));
  out.owed = 2;
  out.complete = true;
  pos = passwordStart + plen;
  if (!out.authOk) return out;
  // Request
  out.complete = false;
  const rest = sent.subarray(pos);
  if (rest.length < 1) return out;
  if (rest[0] !== 5) return { ...out, error: "request version" };
  if (rest.length < 4) return out;
  if (rest[2] !== 0) return { ...out, error: "reserved byte" };
  const atyp = rest[3];
  let end;
  const request = { command: rest[1], atyp };
  if (atyp === 1) {
    end = 8;
    if (rest.length < end + 2) return out;
    request.ip = { family: 4, bytes: [...rest.subarray(4, 8)] };
  } else if (atyp === 4) {
    end = 20;
    if (rest.length < end + 2) return out;
    request.ip = { family: 6, bytes: [...rest.subarray(4, 20)] };
  } else if (atyp === 3) {
    if (rest.length < 5) return out;
    end = 5 + rest[4];
    if (rest.length < end + 2) return out;
    if (rest[4] === 0) return { ...out, error: "empty name" };
    request.nameBytes = Uint8Array.from(rest.subarray(5, end));
  } else {
    return { ...out, error: "address type" };
  }
  request.port = (rest[end] << 8) | rest[end + 1];
  out.owed = 3;
  out.complete = true;
  if (![1, 2, 3].includes(request.command)) return { ...out, error: "command" };
  out.request = request;
  return out;
}

/**
 * Why the proxy must refuse this request (issue 13 §1 and the fuzz policy), or undefined when the
 * model makes no claim (allowed, or up to the resolver/network).
 */
export function mustRefuse(request) {
  if (request.command !== 1) return undefined; // only CONNECT dials a destination
  if (request.ip !== undefined) return refuseAddress(normalizeIp(request.ip), request.port);
  const name = classifyName(request.nameBytes);
  if (name.kind === "invalid") return `invalid name (${name.why})`;
  if (name.kind === "address") return refuseAddress(normalizeIp(name.ip), request.port);
  if (name.name === "localhost" || name.name.endsWith(".localhost")) return "policy no-localhost-names";
  const records = DNS_RECORDS[name.name];
  if (records === undefined) return undefined;
  const answer = records.A?.[0] ?? records.AAAA?.[0];
  const ip = normalizeIp(parseIpLiteral(answer));
  if (isUnspecified(ip)) return `name resolves to the unspecified address ${answer}`;
  if (isLoopback(ip) && request.port === TRAP_PORT) return "policy no-loopback-at-trap (resolved address)";
  return undefined;
}

function refuseAddress(ip, port) {
  if (isUnspecified(ip)) return "unspecified address";
  if (isLoopback(ip) && port === TRAP_PORT) return "policy no-loopback-at-trap";
  if (port === TRAP_PORT) return undefined; // allowed; dials fail with ENETUNREACH in the namespace
  if (port === ALLOWED_PORT && isLoopbackOne(ip)) return undefined;
  return "policy default deny";
}

/** IPv4-mapped IPv6 addresses are IPv4. */
function normalizeIp(ip) {
  const b = ip.bytes;
  if (ip.family === 6 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return { family: 4, bytes: b.slice(12) };
  }
  return ip;
}

function isUnspecified(ip) {
  return ip.family === 4 ? ip.bytes[0] === 0 : ip.bytes.every((b) => b === 0);
}

function isLoopback(ip) {
  return ip.family === 4 ? ip.bytes[0] === 127 : ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1;
}

function isLoopbackOne(ip) {
  return ip.family === 4 ? ip.bytes.join(".") === "127.0.0.1" : isLoopback(ip);
}

/** The request as text for reports, names escaped. */
export function describeRequest(request) {
  const command = { 1: "CONNECT", 2: "BIND", 3: "UDP" }[request.command] ?? `cmd${String(request.command)}`;
  let target;
  if (request.ip !== undefined) {
    target =
      request.ip.family === 4
        ? request.ip.bytes.join(".")
        : `[${Buffer.from(request.ip.bytes)
            .toString("hex")
            .replace(/(.{4})(?!$)/g, "$1:")}]`;
  } else {
    target = JSON.stringify(Buffer.from(request.nameBytes).toString("utf8"));
  }
  return `${command} atyp${String(request.atyp)} ${target}:${String(request.port)}`;
}
