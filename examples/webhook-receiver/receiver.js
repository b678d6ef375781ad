#!/usr/bin/env node
// Reference receiver for @gatehouse-proxy/auth-webhook. Node 20, no dependencies.
//
//   WEBHOOK_SECRET=whsec_... node receiver.js --users users.json [--listen 127.0.0.1:8080]
//                  [--tolerance 300] [--cert cert.pem --key key.pem]
//
// Verifies the Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature),
// refuses stale or replayed messages, then checks the password against the scrypt records in the
// users file (made by `gatehouse hash-password`). Answers 200 with an AuthInfo, 401 for bad
// credentials, 400 for a request it cannot trust (Gatehouse counts that as an error, not a deny).
import { Buffer } from "node:buffer";
import { createHmac, scrypt, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { parseArgs } from "node:util";

const MAX_BODY_BYTES = 16 * 1024;
const CONTEXT = "ProxyAuthRfc1929";

const { values: args } = parseArgs({
  options: {
    users: { type: "string" },
    listen: { type: "string", default: "127.0.0.1:8080" },
    tolerance: { type: "string", default: "300" },
    cert: { type: "string" },
    key: { type: "string" },
  },
});

function fail(message) {
  console.error(`webhook-receiver: ${message}`);
  process.exit(2);
}

/** `whsec_<base64>` → the HMAC key bytes (Standard Webhooks). */
function decodeSecret(text) {
  const trimmed = text.trim();
  if (!trimmed.startsWith("whsec_")) fail('the secret must have the form "whsec_<base64>"');
  const key = Buffer.from(trimmed.slice("whsec_".length), "base64");
  if (key.length < 24 || key.length > 64) fail("the secret key must be 24..64 bytes");
  return key;
}

/** `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (unpadded base64), as `gatehouse hash-password` writes it. */
function parseScryptRecord(record) {
  const match = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(record);
  if (match === null) return undefined;
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { ln, r, p, salt: Buffer.from(match[4], "base64"), hash: Buffer.from(match[5], "base64") };
}

function loadUsers(file) {
  const users = new Map();
  const document = JSON.parse(readFileSync(file, "utf8"));
  for (const [name, entry] of Object.entries(document.users ?? {})) {
    const record = parseScryptRecord(entry.password);
    if (record === undefined) fail(`${file}: users.${name}.password is not a $scrypt$ record`);
    users.set(name, { record, groups: entry.groups ?? [], identity: entry.identity ?? name });
  }
  return users;
}

function scryptHash(password, record) {
  const N = 2 ** record.ln;
  const maxmem = 128 * N * record.r * record.p + 1024 * 1024;
  return new Promise((resolve, reject) =>
    scrypt(password, record.salt, record.hash.length, { N, r: record.r, p: record.p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

const secretText = process.env.WEBHOOK_SECRET_FILE
  ? readFileSync(process.env.WEBHOOK_SECRET_FILE, "utf8")
  : process.env.WEBHOOK_SECRET;
if (!secretText) fail("set WEBHOOK_SECRET (or WEBHOOK_SECRET_FILE) to the provider's whsec_ secret");
if (!args.users) fail("--users FILE is required");
const key = decodeSecret(secretText);
const users = loadUsers(args.users);
const toleranceSeconds = Number(args.tolerance);
// An unknown user costs the same scrypt work as a known one.
const dummy =
  users.values().next().value?.record ?? parseScryptRecord(`$scrypt$ln=15,r=8,p=1$${"A".repeat(22)}$${"A".repeat(43)}`);
/** webhook-id → expiry (ms): a message seen once is refused again inside the tolerance window. */
const seenIds = new Map();

/** Returns a reason string when the message cannot be trusted, undefined when it can. */
function verifySignature(headers, body) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (typeof id !== "string" || typeof timestamp !== "string" || typeof signatures !== "string") {
    return "missing webhook-id, webhook-timestamp or webhook-signature";
  }
  if (!/^\d{1,15}$/.test(timestamp)) return "bad webhook-timestamp";
  const now = Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > toleranceSeconds) return "stale webhook-timestamp";
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
  const valid = signatures.split(" ").some((entry) => {
    const [version, mac] = entry.split(",", 2);
    if (version !== "v1" || mac === undefined) return false;
    const given = Buffer.from(mac, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!valid) return "bad webhook-signature";
  // Insertion order is expiry order: drop the expired ones at the front.
  const nowMs = Date.now();
  for (const [seen, expiry] of seenIds) {
    if (expiry >= nowMs) break;
    seenIds.delete(seen);
  }
  if (seenIds.has(id)) return "replayed webhook-id";
  seenIds.set(id, nowMs + 2 * toleranceSeconds * 1000);
  return undefined;
}

async function decide(request) {
  if (typeof request !== "object" || request === null) return undefined;
  const { username, password } = request;
  if (typeof username !== "string" || typeof password !== "string") return undefined;
  const user = users.get(username);
  const record = user?.record ?? dummy;
  const hash = await scryptHash(Buffer.from(password, "utf8"), record);
  // scrypt keys HMAC-SHA256 with the password, and HMAC zero-pads a short key: `pw` and `pw\0`
  // derive the same hash. `gatehouse hash-password` never stores a password ending in NUL, so
  // such a password is refused (after the same work) and each record matches one password.
  if (user === undefined || password === "" || password.endsWith("\0") || !timingSafeEqual(hash, record.hash)) {
    return false;
  }
  return { identities: [{ identity: user.identity, context: CONTEXT }], groups: user.groups };
}

function answer(response, status, body) {
  const text = body === undefined ? "" : JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

async function handle(request, response) {
  if (request.method !== "POST") return answer(response, 405, { error: "POST only" });
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return answer(response, 413, { error: "body too large" });
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  const untrusted = verifySignature(request.headers, body);
  if (untrusted !== undefined) return answer(response, 400, { error: untrusted });
  let parsed;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return answer(response, 400, { error: "body is not JSON" });
  }
  const decision = await decide(parsed);
  if (decision === undefined) return answer(response, 400, { error: "expected {username, password, ...}" });
  if (decision === false) return answer(response, 401);
  return answer(response, 200, decision);
}

const onRequest = (request, response) =>
  handle(request, response).catch((error) => {
    console.error(`webhook-receiver: ${error.name}`);
    if (!response.headersSent) answer(response, 500, { error: "internal error" });
  });
const server =
  args.cert && args.key
    ? createHttpsServer({ cert: readFileSync(args.cert), key: readFileSync(args.key) }, onRequest)
    : createHttpServer(onRequest);
const separator = args.listen.lastIndexOf(":");
const host = args.listen.slice(0, separator).replace(/^\[|\]$/g, "");
const port = Number(args.listen.slice(separator + 1));
server.listen(port, host, () => {
  const address = server.address();
  console.log(JSON.stringify({ event: "listening", address: `${address.address}:${address.port}`, users: users.size }));
});
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
