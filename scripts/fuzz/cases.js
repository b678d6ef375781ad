// Generates case N of a run from (seed, N) alone: random bytes, valid handshakes delivered in
// odd ways, or valid handshakes with mutations (bit flips, truncation, splicing, length-field
// lies, inserted/deleted/replaced bytes), each with a delivery plan (one write, split writes,
// slow writes, early close).
import { Buffer } from "node:buffer";
import { HOSTILE_NAME_BYTES } from "./names.js";
import { Rng } from "./rng.js";
import { CMD, concat, greeting, request, userPass } from "./socks-bytes.js";
import { ALLOWED_PORT, DNS_RECORDS, TRAP_PORT, USERNAME } from "./topology.js";

/** Passwords the fuzzer sends look like this, so the log can be searched for any of them. */
export const SECRET_PATTERN = /PwQ[0-9a-f]{16}/g;

export function secretToken(rng) {
  return `PwQ${rng.hex(16)}`;
}

/** The valid user's password for a run: a secret token too, derived from the seed. */
export function validPasswordFor(seed) {
  return secretToken(Rng.forCase(seed, -1));
}

/**
 * @returns {{index: number, kind: string, label: string, segments: Uint8Array[],
 *   sent: Uint8Array, delivery: {chunks: {bytes: Uint8Array, delayMs: number}[], end: "wait"|"end"|"destroy"}}}
 */
export function generateCase(seed, index) {
  const rng = Rng.forCase(seed, index);
  const password = validPasswordFor(seed);
  const kind = rng.weighted([
    [12, "random"],
    [4, "greeting+random"],
    [34, "valid"],
    [50, "mutated"],
  ]);
  let sent;
  let label;
  if (kind === "random") {
    sent = rng.bytes(
      rng.weighted([
        [3, rng.int(0, 16)],
        [2, rng.int(17, 300)],
        [1, rng.int(300, 1200)],
      ]),
    );
    if (rng.chance(0.4) && sent.length > 0) sent[0] = 5;
    label = `${String(sent.length)} random bytes`;
  } else if (kind === "greeting+random") {
    sent = concat([greeting([2]), rng.chance(0.5) ? [1] : [], rng.bytes(rng.int(0, 300))]);
    label = "greeting, then random bytes";
  } else {
    const handshake = structuredHandshake(rng, password);
    label = handshake.label;
    sent = concat(handshake.segments);
    if (kind === "mutated") {
      const mutations = [];
      const rounds = rng.weighted([
        [6, 1],
        [3, 2],
        [1, 3],
      ]);
      for (let i = 0; i < rounds; i++) {
        const mutated = mutate(rng, sent, handshake, password);
        sent = mutated.bytes;
        mutations.push(mutated.name);
      }
      label += ` | ${mutations.join(", ")}`;
    }
  }
  const delivery = deliveryPlan(rng, sent);
  return { index, kind, label: `${label} | ${delivery.name}`, sent, delivery };
}

function structuredHandshake(rng, password) {
  const methods = rng.weighted([
    [10, [0, 2]],
    [6, [2]],
    [2, [0]],
    [2, [0, 1, 2]],
    [1, [1]],
    [1, []],
    [2, Array.from({ length: rng.int(1, 255) }, () => rng.int(0, 255))],
  ]);
  // Unknown usernames cost the proxy a full-cost scrypt (ln=15, ~150 ms) each, as they must:
  // they are few here so that the run is not only a KDF benchmark.
  const credentials = rng.weighted([
    [170, [USERNAME, password]],
    [20, [USERNAME, secretToken(rng)]],
    [2, [USERNAME, ""]],
    [1, [`nobody${rng.hex(4)}`, secretToken(rng)]],
    [1, [`${USERNAME}\n{"event":"forged"}`, secretToken(rng)]],
    [1, ["", ""]],
    [1, ["u".repeat(255), `${secretToken(rng)}${"p".repeat(236)}`]],
    [1, [Buffer.from(rng.bytes(rng.int(1, 40))).toString("latin1"), secretToken(rng)]],
  ]);
  const command = rng.weighted([
    [80, CMD.connect],
    [10, CMD.bind],
    [10, CMD.udp],
  ]);
  const port = rng.weighted([
    [40, ALLOWED_PORT],
    [40, TRAP_PORT],
    [5, 0],
    [5, 25],
    [10, rng.int(1, 65535)],
  ]);
  const address = destination(rng);
  const segments = [greeting(methods), userPass(...credentials), request(command, address, port)];
  if (rng.chance(0.2)) segments.push(Buffer.from("GET / HTTP/1.0\r\n\r\n"));
  const where =
    address.type === "domain" ? JSON.stringify(Buffer.from(address.bytes).toString("utf8")).slice(0, 60) : address.host;
  const verb = { 1: "CONNECT", 2: "BIND", 3: "UDP" }[command];
  return { segments, label: `${verb} ${where}:${String(port)} methods[${String(methods.length)}]` };
}

function destination(rng) {
  return rng.weighted([
    [35, () => ({ type: "domain", bytes: rng.pick(HOSTILE_NAME_BYTES) })],
    [10, () => ({ type: "domain", bytes: Buffer.from(rng.pick(Object.keys(DNS_RECORDS))) })],
    [8, () => ({ type: "domain", bytes: randomName(rng) })],
    [
      27,
      () => ({
        type: "ipv4",
        host: rng.pick([
          "127.0.0.1",
          "127.0.0.1",
          "0.0.0.0",
          `0.${String(rng.int(0, 255))}.${String(rng.int(0, 255))}.${String(rng.int(0, 255))}`,
          `127.${String(rng.int(0, 255))}.${String(rng.int(0, 255))}.${String(rng.int(1, 254))}`,
          `${String(rng.int(1, 223))}.${String(rng.int(0, 255))}.${String(rng.int(0, 255))}.${String(rng.int(1, 254))}`,
          "10.0.0.1",
          "192.0.2.1",
          "255.255.255.255",
          "224.0.0.1",
        ]),
      }),
    ],
    [
      20,
      () => ({
        type: "ipv6",
        host: rng.pick([
          "::1",
          "::1",
          "::",
          "::ffff:127.0.0.1",
          "::ffff:0.0.0.0",
          "::127.0.0.1",
          "fe80::1",
          "2001:db8::1",
          "ff02::1",
          Array.from({ length: 8 }, () => rng.int(0, 0xffff).toString(16)).join(":"),
        ]),
      }),
    ],
  ])();
}

function randomName(rng) {
  if (rng.chance(0.3)) return rng.bytes(rng.int(1, 255));
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
  const length = rng.int(1, 255);
  let name = "";
  for (let i = 0; i < length; i++) name += alphabet[rng.int(0, alphabet.length - 1)];
  return Buffer.from(name);
}

/** One mutation of the whole byte stream; `handshake` gives segment boundaries for length lies. */
function mutate(rng, sent, handshake, password) {
  const bytes = Uint8Array.from(sent);
  const type = rng.weighted([
    [20, "bitflip"],
    [15, "truncate"],
    [10, "splice"],
    [20, "length-lie"],
    [10, "insert"],
    [10, "delete"],
    [8, "replace"],
    [7, "duplicate"],
  ]);
  if (bytes.length === 0) return { bytes, name: type };
  const at = position(rng, bytes.length, handshake.segments);
  switch (type) {
    case "bitflip": {
      const flips = rng.int(1, 4);
      for (let i = 0; i < flips; i++) bytes[rng.int(0, bytes.length - 1)] ^= 1 << rng.int(0, 7);
      return { bytes, name: `bitflip×${String(flips)}` };
    }
    case "truncate":
      return { bytes: bytes.subarray(0, at), name: `truncate@${String(at)}` };
    case "splice": {
      const donor = concat(structuredHandshake(rng, password).segments);
      const from = rng.int(0, donor.length - 1);
      return { bytes: concat([bytes.subarray(0, at), donor.subarray(from)]), name: `splice@${String(at)}` };
    }
    case "length-lie": {
      const fields = lengthFields(handshake.segments);
      const field = rng.weighted([
        [4, fields[0]],
        [1, fields[1]],
        [1, fields[2]],
        [6, fields[3] ?? at],
      ]);
      if (field >= bytes.length) return { bytes, name: "length-lie(none)" };
      const original = bytes[field];
      bytes[field] = rng.pick([0, 1, 255, 254, 128, (original + 1) & 0xff, (original - 1) & 0xff, rng.int(0, 255)]);
      return { bytes, name: `length-lie@${String(field)}:${String(original)}→${String(bytes[field])}` };
    }
    case "insert":
      return {
        bytes: concat([bytes.subarray(0, at), rng.bytes(rng.int(1, 8)), bytes.subarray(at)]),
        name: `insert@${String(at)}`,
      };
    case "delete": {
      const count = rng.int(1, 8);
      return {
        bytes: concat([bytes.subarray(0, at), bytes.subarray(at + count)]),
        name: `delete${String(count)}@${String(at)}`,
      };
    }
    case "replace": {
      const count = Math.min(rng.int(1, 32), bytes.length - at);
      bytes.set(rng.bytes(count), at);
      return { bytes, name: `replace${String(count)}@${String(at)}` };
    }
    default: {
      const count = rng.int(1, 16);
      const piece = bytes.subarray(at, at + count);
      return {
        bytes: concat([bytes.subarray(0, at + count), piece, bytes.subarray(at + count)]),
        name: `duplicate@${String(at)}`,
      };
    }
  }
}

/**
 * Where a mutation hits: mostly the request (where names and addresses are), less often the
 * credentials, whose corruption makes an unknown user and so a full-cost KDF in the proxy.
 */
function position(rng, length, segments) {
  const starts = [];
  let offset = 0;
  for (const segment of segments) {
    starts.push([offset, offset + segment.length]);
    offset += segment.length;
  }
  const [from, to] = rng.weighted([
    [25, starts[0]],
    [3, starts[1]],
    [62, starts[2]],
    [10, [0, length]],
  ]);
  const low = Math.min(from, length - 1);
  return rng.int(low, Math.max(low, Math.min(to, length) - 1));
}

/** Offsets of NMETHODS, ULEN, PLEN and the ATYP 3 name length in the unmutated stream. */
function lengthFields(segments) {
  const [greet, auth, req] = segments;
  const fields = [1];
  const authAt = greet.length;
  fields.push(authAt + 1, authAt + 2 + auth[1]);
  const reqAt = authAt + auth.length;
  if (req[3] === 3) fields.push(reqAt + 4);
  return fields;
}

/** How the bytes are written: at once, split, slowly, or cut short by an early close. */
function deliveryPlan(rng, sent) {
  const name = rng.weighted([
    [45, "one-write"],
    [20, "split"],
    [10, "bytewise"],
    [10, "slow"],
    [15, "early-close"],
  ]);
  const chunks = [];
  let end = "wait";
  if (name === "one-write" || sent.length <= 1) {
    chunks.push({ bytes: sent, delayMs: 0 });
  } else if (name === "early-close") {
    const cut = rng.int(0, sent.length - 1);
    chunks.push({ bytes: sent.subarray(0, cut), delayMs: 0 });
    end = rng.chance(0.5) ? "end" : "destroy";
    return { chunks, end, name: `${name}@${String(cut)}/${end}` };
  } else {
    const pieces = name === "bytewise" ? Math.min(sent.length, 64) : rng.int(2, Math.min(8, sent.length));
    const cuts = new Set();
    while (cuts.size < pieces - 1) cuts.add(rng.int(1, sent.length - 1));
    const sorted = [0, ...[...cuts].sort((a, b) => a - b), sent.length];
    for (let i = 0; i + 1 < sorted.length; i++) {
      const delayMs = name === "slow" ? rng.int(5, 60) : 0;
      chunks.push({ bytes: sent.subarray(sorted[i], sorted[i + 1]), delayMs });
    }
  }
  return { chunks, end, name };
}
