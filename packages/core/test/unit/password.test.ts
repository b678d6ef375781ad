import { describe, it } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import {
  PasswordRecordError,
  SCRYPT_DEFAULTS,
  hashPassword,
  parsePasswordRecord,
  verifyAgainstDummy,
  verifyPassword,
} from "@gatehouse-proxy/core";
import { kdfLimiter } from "@gatehouse-proxy/core/engine";
import type { PasswordRecordErrorCode } from "@gatehouse-proxy/core";

/** Cheap parameters for tests that are not about cost. */
const FAST = { ln: 10, r: 8, p: 1 } as const;
const SALT = "c2FsdHNhbHRzYWx0c2FsdA"; // 16 bytes
const HASH = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"; // 32 bytes

async function expectRecordError(record: string, code: PasswordRecordErrorCode): Promise<void> {
  await assert.rejects(verifyPassword("pw", record), (error: unknown) => {
    assert.ok(error instanceof PasswordRecordError, String(error));
    assert.equal(error.code, code, error.message);
    if (record !== "") assert.ok(!error.message.includes(record), "the message never quotes the record");
    return true;
  });
}

/**
 * The CPU time (ms) this process spent on `work`, the libuv pool threads that run scrypt
 * included. Unlike wall time it does not grow when other processes load the machine.
 */
async function cpuMs(work: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await work();
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

describe("hashPassword / verifyPassword", () => {
  it("round trip: the right password verifies, a wrong one does not", async () => {
    const record = await hashPassword("correct horse", FAST);
    assert.equal(await verifyPassword("correct horse", record), true);
    assert.equal(await verifyPassword("correct hors", record), false);
    assert.equal(await verifyPassword("", record), false);
  });

  it("non-ASCII passwords round trip", async () => {
    const record = await hashPassword("pässwörd ✓", FAST);
    assert.equal(await verifyPassword("pässwörd ✓", record), true);
    assert.equal(await verifyPassword("passwort ✓", record), false);
  });

  it("each record matches one password: a trailing NUL (absorbed by HMAC key padding) is refused", async () => {
    const record = await hashPassword("pw", FAST);
    assert.equal(await verifyPassword("pw", record), true);
    assert.equal(await verifyPassword("pw\0", record), false);
    assert.equal(await verifyPassword("pw\0\0", record), false);
    assert.equal(await verifyPassword("p\0w", record), false);
    await assert.rejects(hashPassword("pw\0", FAST), /cannot end with a NUL/);
    const inner = await hashPassword("p\0w", FAST);
    assert.equal(await verifyPassword("p\0w", inner), true, "a NUL inside a password is an ordinary character");
  });

  it("the record describes its own parameters, with a fresh 16-byte salt and a 32-byte hash", async () => {
    const record = await hashPassword("pw");
    assert.match(record, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const parsed = parsePasswordRecord(record);
    assert.equal(parsed.algorithm, "scrypt");
    assert.deepEqual(parsed.params, SCRYPT_DEFAULTS);
    assert.equal(parsed.salt.length, 16);
    assert.equal(parsed.hash.length, 32);
    const custom = await hashPassword("pw", { ln: 11, r: 4, p: 2 });
    assert.match(custom, /^\$scrypt\$ln=11,r=4,p=2\$/);
    assert.equal(await verifyPassword("pw", custom), true);
    assert.notEqual(await hashPassword("pw", FAST), await hashPassword("pw", FAST));
  });

  it("refuses to hash with parameters out of bounds", async () => {
    await assert.rejects(hashPassword("pw", { ln: 25 }), { code: "GH_PASSWORD_RECORD_COST_OUT_OF_RANGE" });
    await assert.rejects(hashPassword("pw", { ln: 20, r: 8 }), { code: "GH_PASSWORD_RECORD_COST_OUT_OF_RANGE" });
  });

  it("accepts padded base64", async () => {
    const record = await hashPassword("pw", FAST);
    const [, , params, salt, hash] = record.split("$");
    assert.equal(await verifyPassword("pw", `$scrypt$${params!}$${salt!}==$${hash!}=`), true);
  });
});

describe("malformed, unknown and out-of-range records", () => {
  const malformed: Record<string, string> = {
    plaintext: "secretpassword",
    empty: "",
    "missing hash": `$scrypt$ln=15,r=8,p=1$${SALT}`,
    "extra field": `$scrypt$ln=15,r=8,p=1$${SALT}$${HASH}$x`,
    "missing parameter": `$scrypt$ln=15,r=8$${SALT}$${HASH}`,
    "duplicate parameter": `$scrypt$ln=15,ln=15,r=8,p=1$${SALT}$${HASH}`,
    "unknown parameter": `$scrypt$ln=15,r=8,p=1,x=1$${SALT}$${HASH}`,
    "non-numeric parameter": `$scrypt$ln=abc,r=8,p=1$${SALT}$${HASH}`,
    "negative parameter": `$scrypt$ln=-1,r=8,p=1$${SALT}$${HASH}`,
    "leading zero": `$scrypt$ln=015,r=8,p=1$${SALT}$${HASH}`,
    "bad base64 salt": `$scrypt$ln=15,r=8,p=1$sa!t*salt$${HASH}`,
    "short salt": `$scrypt$ln=15,r=8,p=1$c2FsdA$${HASH}`,
    "short hash": `$scrypt$ln=15,r=8,p=1$${SALT}$aGFzaA`,
    "empty salt": `$scrypt$ln=15,r=8,p=1$$${HASH}`,
    "bcrypt too short": "$2b$10$abcdefghijklmnopqrstuv",
    "bcrypt bad characters": `$2b$10$${"!".repeat(53)}`,
    "bcrypt one-digit cost": `$2b$9$${"a".repeat(53)}`,
  };
  for (const [name, record] of Object.entries(malformed)) {
    it(`malformed: ${name}`, () => expectRecordError(record, "GH_PASSWORD_RECORD_MALFORMED"));
  }

  const unknown: Record<string, string> = {
    argon2id: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
    "sha512-crypt": "$6$saltsalt$hash",
    "bcrypt $2x$": `$2x$10$${"a".repeat(53)}`,
  };
  for (const [name, record] of Object.entries(unknown)) {
    it(`unknown algorithm: ${name}`, () => expectRecordError(record, "GH_PASSWORD_RECORD_UNKNOWN_ALGORITHM"));
  }

  const outOfRange: Record<string, string> = {
    "ln too small": `$scrypt$ln=9,r=8,p=1$${SALT}$${HASH}`,
    "ln too large": `$scrypt$ln=21,r=8,p=1$${SALT}$${HASH}`,
    "ln absurd": `$scrypt$ln=999999,r=8,p=1$${SALT}$${HASH}`,
    "r zero": `$scrypt$ln=15,r=0,p=1$${SALT}$${HASH}`,
    "r too large": `$scrypt$ln=10,r=33,p=1$${SALT}$${HASH}`,
    "p too large": `$scrypt$ln=10,r=8,p=17$${SALT}$${HASH}`,
    "memory over 256 MiB (ln=20,r=8)": `$scrypt$ln=20,r=8,p=1$${SALT}$${HASH}`,
    "work over 256 MiB (ln=17,r=8,p=3)": `$scrypt$ln=17,r=8,p=3$${SALT}$${HASH}`,
    "bcrypt cost 3": `$2b$03$${"a".repeat(53)}`,
    "bcrypt cost 15": `$2b$15$${"a".repeat(53)}`,
    "bcrypt cost 31": `$2a$31$${"a".repeat(53)}`,
  };
  for (const [name, record] of Object.entries(outOfRange)) {
    it(`cost out of range: ${name}`, () => expectRecordError(record, "GH_PASSWORD_RECORD_COST_OUT_OF_RANGE"));
  }

  it("the bounds' edges are accepted", () => {
    for (const record of [
      `$scrypt$ln=10,r=1,p=1$${SALT}$${HASH}`,
      `$scrypt$ln=18,r=8,p=1$${SALT}$${HASH}`,
      `$scrypt$ln=17,r=8,p=2$${SALT}$${HASH}`,
      `$2b$04$${"a".repeat(53)}`,
      `$2y$14$${"a".repeat(53)}`,
    ]) {
      assert.doesNotThrow(() => parsePasswordRecord(record), record);
    }
  });

  it("a record error is thrown before any KDF work", async () => {
    const peak = kdfLimiter.peakActive;
    const verifying = verifyPassword("pw", `$scrypt$ln=20,r=32,p=16$${SALT}$${HASH}`);
    assert.equal(kdfLimiter.active, 0, "no KDF slot was taken");
    // These parameters would cost seconds of CPU (and 1 GiB) if the KDF ran.
    const ms = await cpuMs(() => assert.rejects(verifying, PasswordRecordError));
    assert.ok(ms < 100, `${ms} ms of CPU`);
    assert.equal(kdfLimiter.peakActive, peak);
  });
});

describe("bcrypt records", () => {
  for (const variant of ["2a", "2b", "2y"]) {
    it(`$${variant}$ records made by bcryptjs verify`, async () => {
      const made = bcrypt.hashSync("hunter2", bcrypt.genSaltSync(5));
      const record = made.replace(/^\$2[aby]\$/, `$${variant}$`);
      assert.equal(await verifyPassword("hunter2", record), true);
      assert.equal(await verifyPassword("hunter3", record), false);
      assert.deepEqual(
        { ...parsePasswordRecord(record), record: undefined },
        { algorithm: "bcrypt", cost: 5, record: undefined },
      );
    });
  }
});

describe("verifyAgainstDummy", () => {
  it("returns false and costs about as much CPU as a real verification with the defaults", async () => {
    const record = await hashPassword("pw");
    const real: number[] = [];
    const dummy: number[] = [];
    for (let i = 0; i < 3; i++) {
      real.push(await cpuMs(() => verifyPassword("wrong", record)));
      dummy.push(await cpuMs(async () => assert.equal(await verifyAgainstDummy("wrong"), false)));
    }
    const median = (values: number[]): number => values.sort((a, b) => a - b)[1]!;
    const ratio = median(dummy) / median(real);
    // One step of ln apart would be a ratio of 2 or 0.5; the test parameters (ln=10) would be 1/32.
    assert.ok(ratio > 0.6 && ratio < 1.6, `dummy ${median(dummy)} ms vs real ${median(real)} ms of CPU`);
  });

  it("waits for a KDF slot like a real verification", async () => {
    const verifying = verifyAgainstDummy("wrong");
    assert.equal(kdfLimiter.active, 1);
    assert.equal(await verifying, false);
    assert.equal(kdfLimiter.active, 0);
  });
});

describe("KDF concurrency cap", () => {
  it("the process-wide limiter never runs more than its cap (2..4 with a default libuv pool)", async () => {
    assert.ok(kdfLimiter.permits >= 1 && kdfLimiter.permits <= 4);
    const record = await hashPassword("pw", { ln: 13 });
    let maxSeen = 0;
    const sampler = setInterval(() => (maxSeen = Math.max(maxSeen, kdfLimiter.active)), 1);
    const attempts = Array.from({ length: 12 }, (_, i) => verifyPassword(i === 0 ? "pw" : "no", record));
    assert.equal(kdfLimiter.active, kdfLimiter.permits);
    assert.equal(kdfLimiter.queued, 12 - kdfLimiter.permits);
    const results = await Promise.all(attempts);
    clearInterval(sampler);
    assert.deepEqual(results, [true, ...Array<boolean>(11).fill(false)]);
    assert.ok(maxSeen <= kdfLimiter.permits, `saw ${maxSeen}`);
    assert.ok(kdfLimiter.peakActive <= kdfLimiter.permits);
    assert.equal(kdfLimiter.active, 0);
    assert.equal(kdfLimiter.queued, 0);
  });
});
