// Names that are IP addresses, checked against the system resolver itself: a small C program
// (compiled here with `cc`) asks glibc's getaddrinfo(AI_NUMERICHOST) and inet_aton about
// thousands of generated strings; AI_NUMERICHOST never sends a DNS query. Gatehouse must read
// exactly the same strings as addresses, and the same addresses from them.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { interpretDestinationName } from "@gatehouse-proxy/core/engine";
import { parseInetAton, parseNumericHost } from "../../dist/dns/numeric-host.js";

const PROGRAM = String.raw`
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(void) {
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    struct in_addr aton;
    if (inet_aton(line, &aton)) printf("%08x ", ntohl(aton.s_addr)); else printf("- ");
    struct addrinfo hints, *res = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(line, 0, &hints, &res) != 0 || res == 0) { printf("-\n"); continue; }
    if (res->ai_family == AF_INET) {
      printf("4 %08x\n", ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr));
    } else {
      struct sockaddr_in6 *six = (struct sockaddr_in6 *)res->ai_addr;
      printf("6 ");
      for (int i = 0; i < 16; i++) printf("%02x", six->sin6_addr.s6_addr[i]);
      printf(" %u\n", six->sin6_scope_id);
    }
    freeaddrinfo(res);
  }
  return 0;
}
`;

/** Deterministic strings shaped like every numeric form, near-misses and mutations of them. */
function generate(count: number, seed: number): string[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n: number): number => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;
  const hexDigits = Array.from("0123456789abcdefABCDEF");
  const boundaries = [0, 1, 7, 8, 9, 10, 255, 256, 65535, 65536, 16777215, 16777216, 4294967295, 4294967296, 2 ** 40];
  const number = (): string => {
    const value = random() < 0.4 ? pick(boundaries) : below(random() < 0.5 ? 300 : 2 ** 32);
    switch (below(6)) {
      case 0:
        return `0${value.toString(8)}`;
      case 1:
        return `0x${value.toString(16)}`;
      case 2:
        return `0X${value.toString(16).toUpperCase()}`;
      case 3:
        return `0${String(below(100))}`; // octal with 8s and 9s
      case 4:
        return pick(["", "0x", "00", "0x0", "x1", "0xg"]);
      default:
        return String(value);
    }
  };
  const ipv4 = (): string => Array.from({ length: 1 + below(5) }, number).join(".");
  const group = (): string => Array.from({ length: below(6) }, () => pick(hexDigits)).join("");
  const ipv6 = (): string => {
    const groups = Array.from({ length: 1 + below(9) }, () =>
      random() < 0.7 ? Math.floor(random() * 65536).toString(16) : group(),
    );
    if (random() < 0.3)
      groups.splice(
        groups.length - 1,
        1,
        `${String(below(300))}.${String(below(300))}.${String(below(256))}.${String(below(256))}`,
      );
    let text = groups.join(":");
    if (random() < 0.6) {
      const at = below(groups.length + 1);
      text = [...groups.slice(0, at), "", ...groups.slice(at)]
        .join(":")
        .replace(/^:(?!:)/, "::")
        .replace(/(?<!:):$/, "::");
      if (random() < 0.2) text = pick(["::", "::1", "::ffff:127.0.0.1", "fe80::1", "ff02::1", "::0.0.0.0", "1::"]);
    }
    if (random() < 0.3)
      text = `${pick(["fe80", "FE80", "fe81", "febf", "fec0", "ff02", "ff01", "ff05", "2001"])}:${text.replace(/^:+/, ":")}`;
    if (random() < 0.35)
      text += `%${pick(["lo", "1", "0", "4294967295", "4294967296", "", "nope", "01", "lo0", "-1", "1x"])}`;
    if (random() < 0.15) text = `[${text}]`;
    return text;
  };
  const alphabet = Array.from("0123456789abcdefxX.:%[]lo");
  const noise = (): string => Array.from({ length: 1 + below(20) }, () => pick(alphabet)).join("");
  const mutate = (text: string): string => {
    if (text === "") return pick(alphabet);
    const at = below(text.length);
    switch (below(3)) {
      case 0:
        return text.slice(0, at) + pick(alphabet) + text.slice(at + 1);
      case 1:
        return text.slice(0, at) + text.slice(at + 1);
      default:
        return text.slice(0, at) + pick(alphabet) + text.slice(at);
    }
  };
  const out = new Set<string>();
  while (out.size < count) {
    const base = pick([ipv4, ipv4, ipv6, ipv6, noise])();
    const text = random() < 0.25 ? mutate(base) : base;
    if (text !== "" && !text.includes("\n")) out.add(text);
  }
  return [...out];
}

interface GlibcAnswer {
  readonly aton: number | undefined;
  /** `4 hex8`, `6 hex32 scope`, or undefined when getaddrinfo refused the string. */
  readonly numeric: string | undefined;
}

function wordsHex(words: readonly number[]): string {
  return words.map((word) => (word >>> 0).toString(16).padStart(8, "0")).join("");
}

/** What Gatehouse reads `text` as, in the C program's notation. */
function ours(text: string): string | undefined {
  const numeric = parseNumericHost(text);
  if (numeric === undefined) return undefined;
  if (numeric.family === 4) return `4 ${wordsHex([numeric.w3])}`;
  const scope = numeric.zone === undefined ? "0" : /^\d+$/.test(numeric.zone) ? String(Number(numeric.zone)) : "iface";
  return `6 ${wordsHex([numeric.w0, numeric.w1, numeric.w2, numeric.w3])} ${scope}`;
}

describe("numeric host names: the same as glibc's getaddrinfo(AI_NUMERICHOST)", () => {
  let dir: string;
  let binary: string | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-numeric-"));
    writeFileSync(join(dir, "numeric.c"), PROGRAM);
    const compiled = spawnSync("cc", ["-O1", "-o", join(dir, "numeric"), join(dir, "numeric.c")], { encoding: "utf8" });
    if (compiled.status === 0) binary = join(dir, "numeric");
    else throw new Error(`cc failed (install gcc and libc6-dev): ${compiled.stderr || String(compiled.error)}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const ask = (strings: readonly string[]): GlibcAnswer[] => {
    const output = execFileSync(binary!, { input: `${strings.join("\n")}\n`, encoding: "utf8", maxBuffer: 64 << 20 });
    return output
      .trimEnd()
      .split("\n")
      .map((line) => {
        const [aton, ...rest] = line.split(" ");
        return {
          aton: aton === "-" ? undefined : parseInt(aton!, 16),
          numeric: rest[0] === "-" ? undefined : rest.join(" "),
        };
      });
  };

  it("agrees on 30 000 generated strings (acceptance, address and numeric scope)", (t) => {
    const strings = generate(30_000, 13);
    const answers = ask(strings);
    assert.equal(answers.length, strings.length);
    const bracketedInner = strings
      .filter((text) => text.startsWith("[") && text.endsWith("]"))
      .map((text) => text.slice(1, -1));
    const innerAnswers = new Map(ask(bracketedInner).map((answer, index) => [bracketedInner[index]!, answer.numeric]));
    const mismatches: string[] = [];
    let accepted = 0;
    for (let i = 0; i < strings.length; i++) {
      const text = strings[i]!;
      const answer = answers[i]!;
      // glibc has no brackets; Gatehouse reads [v6] (and only v6) as the address inside.
      const bracketed = text.startsWith("[") && text.endsWith("]");
      let expected = answer.numeric;
      if (bracketed) {
        const inner = innerAnswers.get(text.slice(1, -1));
        expected = inner?.startsWith("6 ") ? inner : undefined;
      } else if (text.startsWith("[")) {
        expected = undefined;
      }
      const actual = ours(text);
      if (expected !== undefined) accepted++;
      const same =
        actual === expected ||
        (actual !== undefined &&
          expected !== undefined &&
          actual.endsWith(" iface") &&
          expected.startsWith(actual.slice(0, -5)));
      if (!same) mismatches.push(`${JSON.stringify(text)}: glibc ${String(expected)}, gatehouse ${String(actual)}`);
      // No whitespace is generated, so inet_aton and the exact variant getaddrinfo uses agree.
      const aton = parseInetAton(text);
      if ((aton === -1 ? undefined : aton) !== answer.aton) {
        mismatches.push(`${JSON.stringify(text)}: inet_aton ${String(answer.aton)}, gatehouse ${String(aton)}`);
      }
      // The parser turns exactly these names into addresses (the rest are names or refused).
      const kind = interpretDestinationName(Buffer.from(text, "latin1")).kind;
      if ((kind === "ipv4" || kind === "ipv6") !== (expected !== undefined)) {
        mismatches.push(`${JSON.stringify(text)}: parser kind ${kind}, glibc ${String(expected)}`);
      }
    }
    t.diagnostic(
      `${String(strings.length)} strings, ${String(accepted)} numeric to glibc, ${String(mismatches.length)} mismatches`,
    );
    assert.ok(accepted > 3000, `only ${String(accepted)} strings were numeric: the generator lost its shape`);
    assert.deepEqual(mismatches.slice(0, 20), []);
  });

  it("reads the forms from the issue as the addresses glibc dials", () => {
    const cases: [string, string][] = [
      ["127.1", "4 7f000001"],
      ["0x7f.1", "4 7f000001"],
      ["2130706433", "4 7f000001"],
      ["0", "4 00000000"],
      ["0177.0.0.1", "4 7f000001"],
      ["::ffff:127.0.0.1", "6 00000000000000000000ffff7f000001 0"],
      ["fe80::1%1", "6 fe800000000000000000000000000001 1"],
    ];
    const answers = ask(cases.map(([text]) => text));
    cases.forEach(([text, expected], index) => {
      assert.equal(answers[index]!.numeric, expected, `glibc on ${text}`);
      assert.equal(ours(text), expected, `gatehouse on ${text}`);
    });
    assert.equal(ours("[::1]"), "6 00000000000000000000000000000001 0");
    assert.equal(ours("fe80::1%lo"), "6 fe800000000000000000000000000001 iface");
  });
});
