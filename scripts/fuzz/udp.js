// The UDP phase of a fuzz run: one UDP ASSOCIATE, then random and mutated datagram headers
// (hostile names, FRAG and RSV set, unknown ATYPs, truncation, flipped bytes) to the echo
// server and to the trap. Oracles: the trap never receives a datagram (the policy denies
// loopback at its port), no datagram whose header breaks RFC 1928 §7 (RSV ≠ 0, FRAG ≠ 0, an
// unknown ATYP, shorter than its header) is ever relayed, and the association still relays a
// clean datagram afterwards.
import { Buffer } from "node:buffer";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { connect } from "node:net";
import { HOSTILE_NAME_BYTES } from "./names.js";
import { Rng } from "./rng.js";
import { ATYP, concat, greeting, ipv4Bytes, ipv6Bytes, userPass } from "./socks-bytes.js";
import { ALLOWED_PORT, PROXY_PORT, TRAP_PORT, USERNAME } from "./topology.js";

/** Case numbers of the UDP phase start here, so they never share a generator with a TCP case. */
const UDP_CASE_BASE = 1_000_000_000;

/** The UDP echo server and trap, on every local address of the namespace (as destinations.js does for TCP). */
export async function startUdpDestinations() {
  const sockets = [];
  const trap = { received: [] };
  const echo = { received: 0 };
  for (const [type, host] of [
    ["udp4", "0.0.0.0"],
    ["udp6", "::"],
  ]) {
    const echoSocket = createSocket({ type, ipv6Only: type === "udp6" });
    echoSocket.on("message", (message, from) => {
      echo.received += 1;
      echoSocket.send(message, from.port, from.address);
    });
    echoSocket.bind(ALLOWED_PORT, host);
    const trapSocket = createSocket({ type, ipv6Only: type === "udp6" });
    trapSocket.on("message", (message, from) => {
      trap.received.push({ from: `${from.address}:${String(from.port)}`, tag: tagOf(message) });
    });
    trapSocket.bind(TRAP_PORT, host);
    await Promise.all([once(echoSocket, "listening"), once(trapSocket, "listening")]);
    sockets.push(echoSocket, trapSocket);
  }
  return { echo, trap, close: () => sockets.forEach((socket) => socket.close()) };
}

function tagOf(payload) {
  return /udp#(\d+)#/.exec(Buffer.from(payload).toString("latin1"))?.[1];
}

const DESTINATIONS = [
  { type: "ipv4", host: "127.0.0.1", port: ALLOWED_PORT },
  { type: "ipv6", host: "::1", port: ALLOWED_PORT },
  { type: "name", host: "ok.example.com", port: ALLOWED_PORT },
  { type: "name", host: "v6.example.com", port: ALLOWED_PORT },
  { type: "ipv4", host: "127.0.0.1", port: TRAP_PORT },
  { type: "ipv6", host: "::1", port: TRAP_PORT },
  { type: "name", host: "ok.example.com", port: TRAP_PORT },
  { type: "name", host: "mapped.example.com", port: TRAP_PORT },
  { type: "name", host: "lo.partner.test", port: TRAP_PORT },
];

function addressBytes(rng, destination) {
  if (destination.type === "ipv4") return [ATYP.ipv4, ...ipv4Bytes(destination.host)];
  if (destination.type === "ipv6") return [ATYP.ipv6, ...ipv6Bytes(destination.host)];
  // A name: one of the list's, or one of the hostile dictionary (most of which must be refused).
  const name = rng.chance(0.5) ? Buffer.from(destination.host) : rng.pick(HOSTILE_NAME_BYTES);
  return [ATYP.domain, name.length & 0xff, ...name];
}

/**
 * Datagram N of a run: a well-formed header to one of DESTINATIONS, then (half the time) a
 * mutation. `wellFormed` is this module's own reading of the bytes, not the proxy's parser.
 */
export function generateDatagram(seed, index) {
  const rng = Rng.forCase(seed, UDP_CASE_BASE + index);
  const destination = rng.pick(DESTINATIONS);
  const payload = Buffer.from(`udp#${String(index)}#${rng.hex(8)}`);
  const header = [0, 0, 0, ...addressBytes(rng, destination), (destination.port >> 8) & 0xff, destination.port & 0xff];
  let label = `${destination.type} ${destination.host}:${String(destination.port)}`;
  let bytes;
  const mutation = rng.weighted([
    [6, "none"],
    [2, "frag"],
    [1, "reserved"],
    [1, "atyp"],
    [3, "flip"],
    [1, "truncate"],
  ]);
  label += ` ${mutation}`;
  switch (mutation) {
    case "frag":
      header[2] = rng.int(1, 255);
      break;
    case "reserved":
      header[rng.int(0, 1)] = rng.int(1, 255);
      break;
    case "atyp":
      header[3] = rng.pick([0, 2, 5, 255]);
      break;
    case "flip": {
      const at = rng.int(0, header.length - 1);
      header[at] = (header[at] ^ (1 << rng.int(0, 7))) & 0xff;
      break;
    }
    default:
      break;
  }
  bytes = Buffer.from(concat([Uint8Array.from(header), payload]));
  if (mutation === "truncate") bytes = bytes.subarray(0, rng.int(0, header.length - 1));
  return { index, bytes, label, wellFormed: wellFormed(bytes) };
}

/** RFC 1928 §7 as this module reads it: RSV 0, FRAG 0, ATYP 1, 3 or 4, the whole header present. */
function wellFormed(bytes) {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0) return false;
  const atyp = bytes[3];
  if (atyp === ATYP.ipv4) return bytes.length >= 10;
  if (atyp === ATYP.ipv6) return bytes.length >= 22;
  if (atyp === ATYP.domain) return bytes.length >= 5 && bytes.length >= 7 + bytes[4];
  return false;
}

/** Login and UDP ASSOCIATE over TCP; resolves with the control socket, the client's UDP socket and the relay port. */
async function associate(password) {
  const udp = createSocket("udp4");
  udp.bind(0, "127.0.0.1");
  await once(udp, "listening");
  const control = connect({ host: "127.0.0.1", port: PROXY_PORT });
  await once(control, "connect");
  let buffered = Buffer.alloc(0);
  control.on("data", (chunk) => (buffered = Buffer.concat([buffered, chunk])));
  const read = async (length) => {
    const deadline = Date.now() + 10_000;
    while (buffered.length < length) {
      if (Date.now() > deadline) throw new Error(`UDP phase: no ${String(length)}-byte answer from the proxy`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const out = buffered.subarray(0, length);
    buffered = buffered.subarray(length);
    return out;
  };
  const declared = udp.address().port;
  control.write(concat([greeting([2]), userPass(USERNAME, password)]));
  await read(4);
  control.write(Buffer.from([5, 3, 0, ATYP.ipv4, 0, 0, 0, 0, declared >> 8, declared & 0xff]));
  const reply = await read(10);
  if (reply[1] !== 0) throw new Error(`UDP phase: UDP ASSOCIATE answered ${String(reply[1])}`);
  return { control, udp, relayPort: reply.readUInt16BE(8) };
}

/**
 * Sends `count` generated datagrams through one association (in bursts of 100) and judges
 * what came back. Returns the figures and the failures (each `{index, what, label}`).
 */
export async function runUdpPhase({ seed, count, password, destinations }) {
  const { control, udp, relayPort } = await associate(password);
  const sent = new Map();
  const echoed = [];
  udp.on("message", (message) => echoed.push(message));
  try {
    for (let index = 0; index < count; index++) {
      const datagram = generateDatagram(seed, index);
      sent.set(index, datagram);
      udp.send(datagram.bytes, relayPort, "127.0.0.1");
      if (index % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000)); // names resolve, echoes come back
    const failures = [];
    for (const message of echoed) {
      const tag = tagOf(message);
      const datagram = tag === undefined ? undefined : sent.get(Number(tag));
      if (datagram === undefined) {
        failures.push({
          index: -1,
          what: `UDP: the relay sent a datagram no case sent: ${message.toString("hex", 0, 48)}`,
        });
      } else if (!datagram.wellFormed) {
        failures.push({
          index: datagram.index,
          what: "UDP: a malformed datagram was relayed",
          label: `${datagram.label}: ${datagram.bytes.toString("hex", 0, 48)}`,
        });
      } else if (
        message[0] !== 0 ||
        message[1] !== 0 ||
        message[2] !== 0 ||
        ![ATYP.ipv4, ATYP.ipv6].includes(message[3])
      ) {
        failures.push({
          index: datagram.index,
          what: `UDP: a reply with a bad header: ${message.toString("hex", 0, 24)}`,
        });
      }
    }
    for (const received of destinations.trap.received) {
      const datagram = received.tag === undefined ? undefined : sent.get(Number(received.tag));
      failures.push({
        index: datagram?.index ?? -1,
        what: `UDP: the trap (denied by policy) received a datagram from ${received.from}`,
        label: datagram === undefined ? undefined : `${datagram.label}: ${datagram.bytes.toString("hex", 0, 48)}`,
      });
    }
    // The association lives on: a clean datagram to the echo server comes back.
    const before = echoed.length;
    const clean = Buffer.concat([
      Buffer.from([0, 0, 0, ATYP.ipv4, 127, 0, 0, 1, ALLOWED_PORT >> 8, ALLOWED_PORT & 0xff]),
      Buffer.from("udp#clean#"),
    ]);
    for (let attempt = 0; attempt < 10 && echoed.length === before; attempt++) {
      udp.send(clean, relayPort, "127.0.0.1");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (echoed.length === before)
      failures.push({ index: -1, what: "UDP: the association relayed nothing after the phase" });
    const malformed = [...sent.values()].filter((datagram) => !datagram.wellFormed).length;
    return {
      summary: { datagrams: count, malformed, echoed: before, trap: destinations.trap.received.length },
      failures,
    };
  } finally {
    control.destroy();
    udp.close();
  }
}
