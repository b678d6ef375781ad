#!/usr/bin/env node
// The UDP measure's load: one UDP ASSOCIATE (no auth) through a SOCKS5 proxy, or none with
// --direct, to a UDP echo server of its own on 127.0.0.1; a closed loop of --window datagrams
// in flight (each echo sends the next; a window lost for 100 ms is sent again) for --seconds
// after --warmup. Prints one JSON line: round trips, datagrams the proxy relayed (two per round
// trip: out and back), losses.
//   node bench/udp-load.js (--proxy 127.0.0.1:PORT | --direct) [--seconds 8] [--warmup 1] [--window 32] [--size 64]
import { Buffer } from "node:buffer";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { connect } from "node:net";
import { clearInterval, setInterval } from "node:timers";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    proxy: { type: "string" },
    direct: { type: "boolean", default: false },
    seconds: { type: "string", default: "8" },
    warmup: { type: "string", default: "1" },
    window: { type: "string", default: "32" },
    size: { type: "string", default: "64" },
  },
});
if (values.direct === (values.proxy !== undefined)) throw new Error("give --proxy HOST:PORT or --direct");
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const window = Number(values.window);
const size = Number(values.size);

const echo = createSocket("udp4");
echo.on("message", (message, from) => echo.send(message, from.port, from.address));
echo.bind(0, "127.0.0.1");
await once(echo, "listening");
const echoPort = echo.address().port;

const client = createSocket("udp4");
client.bind(0, "127.0.0.1");
await once(client, "listening");

/** Where datagrams go and what they carry: the relay with a SOCKS header, or the echo server bare. */
let target = { host: "127.0.0.1", port: echoPort };
let datagram = Buffer.alloc(size, 0x61);
let control;
if (values.proxy !== undefined) {
  const [host, port] = [values.proxy.slice(0, values.proxy.lastIndexOf(":")), Number(values.proxy.split(":").pop())];
  control = connect({ host, port });
  await once(control, "connect");
  const replies = [];
  control.on("data", (chunk) => replies.push(chunk));
  const read = async (length) => {
    for (;;) {
      const buffered = Buffer.concat(replies);
      if (buffered.length >= length) {
        replies.length = 0;
        if (buffered.length > length) replies.push(buffered.subarray(length));
        return buffered.subarray(0, length);
      }
      await once(control, "data");
    }
  };
  control.write(Buffer.from([5, 1, 0]));
  await read(2);
  const declared = client.address().port;
  control.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, declared >> 8, declared & 0xff]));
  const reply = await read(10);
  if (reply[1] !== 0) throw new Error(`UDP ASSOCIATE answered ${String(reply[1])}`);
  const relayHost = [...reply.subarray(4, 8)].join(".");
  target = { host: relayHost === "0.0.0.0" ? host : relayHost, port: reply.readUInt16BE(8) };
  const header = Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff]);
  datagram = Buffer.concat([header, datagram]);
}

let counting = false;
let roundTrips = 0;
let sent = 0;
let received = 0;
let refills = 0;
const send = () => {
  sent++;
  client.send(datagram, target.port, target.host);
};
client.on("message", () => {
  received++;
  if (counting) roundTrips++;
  send();
});
for (let i = 0; i < window; i++) send();
let lastReceived = 0;
const watchdog = setInterval(() => {
  if (received === lastReceived) {
    refills++;
    for (let i = 0; i < window; i++) send();
  }
  lastReceived = received;
}, 100);
await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
counting = true;
const started = process.hrtime.bigint();
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
counting = false;
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
clearInterval(watchdog);
process.stdout.write(
  `${JSON.stringify({
    round_trips: roundTrips,
    seconds: elapsedS,
    round_trips_per_s: roundTrips / elapsedS,
    datagrams_relayed_per_s: (2 * roundTrips) / elapsedS,
    window,
    size,
    sent,
    received,
    stalls: refills,
  })}\n`,
);
control?.destroy();
client.close();
echo.close();
