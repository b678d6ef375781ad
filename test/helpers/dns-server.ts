import { createSocket } from "node:dgram";
import type { RemoteInfo } from "node:dgram";
import { once } from "node:events";
import { isIPv4, isIPv6 } from "node:net";

/**
 * A small real DNS server over UDP for tests: it answers A and AAAA from a table the test
 * gives (and may change), NXDOMAIN for every other name, never answers the names listed as
 * silent, and counts the queries it receives per name, so a test can prove a name was (or was
 * not) looked up. Standalone (node: modules only) and its own tsc project
 * (tsconfig.dns-server.json), so every test project can use it: add that file to the project's
 * `references` and import the built file, e.g. from packages/server/test
 * `../../../test/dist/helpers/dns-server.js` (the same relative path works from dist-test).
 */
export interface DnsRecords {
  readonly A?: readonly string[];
  readonly AAAA?: readonly string[];
  /** Seconds; default 300. */
  readonly ttl?: number;
}

export interface DnsServerOptions {
  /** Name → records. Names compare case-insensitively, without a trailing dot. */
  readonly records?: Readonly<Record<string, DnsRecords>>;
  /** Names whose queries are swallowed: the resolver asking them gets no answer at all. */
  readonly silent?: readonly string[];
}

export interface TestDnsServer {
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:PORT`, as `dns.servers` takes it. */
  readonly address: string;
  /** Queries received for `name` (any type); `type` narrows to `A` or `AAAA`. */
  queries(name: string, type?: "A" | "AAAA"): number;
  /** Every query received, in order, as `name/TYPE`. */
  readonly log: string[];
  /** Adds or replaces a name's records (a silent name stays silent). */
  set(name: string, records: DnsRecords): void;
  /** Removes a name's records: it gets NXDOMAIN from now on. */
  delete(name: string): void;
  /** From now on, queries for `name` get no answer. */
  silence(name: string): void;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;

/** Starts the server on 127.0.0.1 with a random port. */
export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const records = new Map<string, DnsRecords>();
  for (const [name, entry] of Object.entries(options.records ?? {})) records.set(normalize(name), checked(entry));
  const silent = new Set((options.silent ?? []).map(normalize));
  const log: string[] = [];
  const socket = createSocket("udp4");
  socket.on("message", (message: Buffer, peer: RemoteInfo) => {
    const question = parseQuestion(message);
    if (question === undefined) {
      socket.send(header(message, RCODE_FORMERR, 0, 0), peer.port, peer.address);
      return;
    }
    log.push(`${question.name}/${typeName(question.type)}`);
    if (silent.has(question.name)) return;
    socket.send(answer(message, question, records.get(question.name)), peer.port, peer.address);
  });
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  const { port } = socket.address();
  return {
    host: "127.0.0.1",
    port,
    address: `127.0.0.1:${String(port)}`,
    log,
    queries(name, type) {
      const wanted = normalize(name);
      return log.filter((entry) => {
        const [queried, queriedType] = entry.split("/");
        return queried === wanted && (type === undefined || queriedType === type);
      }).length;
    },
    set(name, entry) {
      records.set(normalize(name), checked(entry));
    },
    delete(name) {
      records.delete(normalize(name));
    },
    silence(name) {
      silent.add(normalize(name));
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

interface Question {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** Offset just past the question section (the answer section starts there). */
  readonly end: number;
}

function normalize(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

function checked(entry: DnsRecords): DnsRecords {
  for (const address of entry.A ?? []) if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  for (const address of entry.AAAA ?? []) if (!isIPv6(address)) throw new Error(`not an IPv6 address: ${address}`);
  return entry;
}

function typeName(type: number): string {
  if (type === TYPE_A) return "A";
  if (type === TYPE_AAAA) return "AAAA";
  return `TYPE${String(type)}`;
}

/** The first question of a query (resolvers send exactly one); undefined for a malformed one. */
function parseQuestion(message: Buffer): Question | undefined {
  if (message.length < 12 || message.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = message[offset];
    if (length === undefined || length > 63) return undefined; // no compression in a question
    offset += 1;
    if (length === 0) break;
    if (offset + length > message.length) return undefined;
    labels.push(message.toString("latin1", offset, offset + length));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  return {
    name: normalize(labels.join(".")),
    type: message.readUInt16BE(offset),
    class: message.readUInt16BE(offset + 2),
    end: offset + 4,
  };
}

/** The reply's header: the query's id, QR and RA set, RD and opcode copied, one question. */
function header(query: Buffer, rcode: number, questions: number, answers: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(query.length >= 2 ? query.readUInt16BE(0) : 0, 0);
  const flags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  // QR=1, opcode and RD from the query, AA=1, RA=1, the given rcode.
  out.writeUInt16BE(0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
  out.writeUInt16BE(questions, 4);
  out.writeUInt16BE(answers, 6);
  return out;
}

/** NXDOMAIN for an unknown name; else NOERROR with the records of the asked type (maybe none). */
function answer(query: Buffer, question: Question, entry: DnsRecords | undefined): Buffer {
  const questionBytes = query.subarray(12, question.end);
  if (entry === undefined) return Buffer.concat([header(query, RCODE_NXDOMAIN, 1, 0), questionBytes]);
  const addresses = question.class !== CLASS_IN ? [] : addressesOf(entry, question.type);
  const ttl = entry.ttl ?? 300;
  const answers = addresses.map((address) => {
    const rdata = question.type === TYPE_A ? ipv4Bytes(address) : ipv6Bytes(address);
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0); // a pointer to the question's name
    record.writeUInt16BE(question.type, 2);
    record.writeUInt16BE(CLASS_IN, 4);
    record.writeUInt32BE(ttl, 6);
    record.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([record, rdata]);
  });
  return Buffer.concat([header(query, 0, 1, answers.length), questionBytes, ...answers]);
}

function addressesOf(entry: DnsRecords, type: number): readonly string[] {
  if (type === TYPE_A) return entry.A ?? [];
  if (type === TYPE_AAAA) return entry.AAAA ?? [];
  return [];
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split(".").map(Number));
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail] = address.split("::");
  const groups = (part: string): string[] => (part === "" ? [] : part.split(":"));
  const expand = (parts: string[]): string[] =>
    parts.flatMap((part) => {
      if (!part.includes(".")) return [part];
      const bytes = ipv4Bytes(part); // an embedded IPv4 tail such as ::ffff:1.2.3.4
      return [bytes.readUInt16BE(0).toString(16), bytes.readUInt16BE(2).toString(16)];
    });
  const left = expand(groups(head));
  const right = tail === undefined ? [] : expand(groups(tail));
  const middle = new Array<string>(8 - left.length - right.length).fill("0");
  const out = Buffer.alloc(16);
  [...left, ...middle, ...right].forEach((group, index) => out.writeUInt16BE(parseInt(group, 16), index * 2));
  return out;
}
