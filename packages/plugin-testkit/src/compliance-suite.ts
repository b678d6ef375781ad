import { AssertionError } from "node:assert";
import { inspect } from "node:util";
import { normalizeAuthResult } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest, NormalizedAuthInfo } from "@gatehouse-proxy/core";
import type { CheckContext, ComplianceCheck, ComplianceFixtures, ProviderFactory, TestRegistrar } from "./fixtures.js";
import { errorText, firstLine, settleWithin } from "./settle.js";
import type { Settled } from "./settle.js";

/**
 * The bound on the whole `concurrency` check: each of its calls may take this long, as long as
 * some call settles every `timeoutMs`. Sized for a provider that runs a KDF: the check took
 * 170 s against auth-static with scrypt records at the default cost (ln=15) on a 2-core machine
 * under load (2 KDF slots); the former 60 s per call failed there.
 */
const DEFAULT_CONCURRENCY_TIMEOUT_MS = 600_000;

const CONN_META = { peer_address: "127.0.0.1:40000", local_address: "127.0.0.1:1080" } as const;

/**
 * Registers the Gatehouse provider contract as tests, one per check, through `test`
 * (node:test's `test` or `it`). Each check creates a fresh provider with `factory`, calls
 * init(), runs, and calls close(). A check fails with the reason when the provider answers
 * the wrong outcome, returns a shape the host would reject, hangs, ignores an abort, throws
 * for odd input, or puts the password in an error.
 *
 * @example
 * import { test } from "node:test";
 * import { providerComplianceSuite } from "@gatehouse-proxy/plugin-testkit";
 * providerComplianceSuite(test, () => createMyProvider(), { valid: { username: "alice", password: "s3cret" }, wrongPassword: "nope", unknownUser: "mallory" });
 */
export function providerComplianceSuite(
  test: TestRegistrar,
  factory: ProviderFactory,
  fixtures: ComplianceFixtures,
): void {
  const suite = new Suite(factory, fixtures);
  const add = (
    check: ComplianceCheck,
    title: string,
    body: (context: CheckContext) => Promise<void>,
    unavailable?: string,
  ): void => {
    const reason = fixtures.skip?.[check] ?? unavailable;
    if (reason !== undefined) {
      const skip = typeof test.skip === "function" ? test.skip.bind(test) : test;
      skip(`${check}: ${title} (skipped: ${reason})`, () => Promise.resolve());
      return;
    }
    test(`${check}: ${title}`, body);
  };
  add("name", "the provider has a non-empty name", () => suite.name());
  add("allow", "valid credentials are allowed with a valid AuthInfo and the expected identity", () => suite.allow());
  add("wrong-password", "a wrong password is denied with false, not an error", () =>
    suite.deny(fixtures.valid.username, fixtures.wrongPassword, "the wrong password"),
  );
  add("unknown-user", "an unknown user is denied with false, not an error", () =>
    suite.deny(fixtures.unknownUser, fixtures.valid.password, "an unknown user"),
  );
  add("empty-credentials", "empty usernames and passwords are denied", () => suite.empty());
  add("long-credentials", "255-byte usernames and passwords are denied without an error", () => suite.long());
  add("odd-bytes", "NUL, non-ASCII and query-syntax bytes are handled: never allowed by mistake, never an error", () =>
    suite.oddBytes(),
  );
  add("trailing-nul", "the valid password followed by NUL bytes is denied", () => suite.trailingNul());
  add("abort-before-call", "an already aborted signal settles the call promptly", () => suite.abortBefore());
  add(
    "abort-mid-flight",
    fixtures.stalledFactory === undefined
      ? "a call aborted mid-flight settles promptly"
      : "a call to a backend that never answers settles promptly once aborted",
    () => suite.abortMidFlight(),
  );
  add("concurrency", `${String(fixtures.concurrency ?? 1000)} concurrent calls all settle with the right outcome`, () =>
    suite.concurrency(),
  );
  add("close", "close() resolves and is idempotent", () => suite.close());
  add("health", "health() resolves when the backend is healthy (and rejects when broken)", (context) =>
    suite.health(context),
  );
  add(
    "broken-backend",
    "a broken backend is an error (a rejection), never false, and the error does not carry the password",
    () => suite.broken(),
    fixtures.brokenFactory === undefined ? "no brokenFactory in the fixtures" : undefined,
  );
}

/** The checks; every call goes through `call`, which enforces deadlines and the no-password rule. */
class Suite {
  private readonly timeoutMs: number;
  private readonly concurrencyTimeoutMs: number;
  private readonly abortSettleMs: number;

  constructor(
    private readonly factory: ProviderFactory,
    private readonly fixtures: ComplianceFixtures,
  ) {
    this.timeoutMs = fixtures.timeoutMs ?? 10_000;
    this.concurrencyTimeoutMs =
      fixtures.concurrencyTimeoutMs ?? Math.max(this.timeoutMs, DEFAULT_CONCURRENCY_TIMEOUT_MS);
    this.abortSettleMs = fixtures.abortSettleMs ?? 2_000;
  }

  async name(): Promise<void> {
    await this.with(this.factory, (provider) => {
      if (typeof provider.name !== "string" || provider.name === "") {
        fail(`provider.name must be a non-empty string, got ${JSON.stringify(provider.name)}`);
      }
      return Promise.resolve();
    });
  }

  async allow(): Promise<void> {
    const { expect } = this.fixtures.valid;
    await this.with(this.factory, async (provider) => {
      if (provider.reusable === false && this.fixtures.nextValid === undefined) {
        fail(
          "provider.reusable is false (one-time answers): give fixtures.nextValid, fresh valid credentials per call",
        );
      }
      const { username, password } = this.validCredentials();
      const info = await this.expectAllowed(provider, username, password, "the valid credentials");
      const wanted = expect?.identity ?? username;
      const first = info.identities[0]!;
      if (first.identity !== wanted) {
        fail(`the valid user's identity is ${JSON.stringify(first.identity)}, expected ${JSON.stringify(wanted)}`);
      }
      if (expect?.groups !== undefined) {
        const got = [...info.groups].sort();
        const want = [...expect.groups].sort();
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          fail(`the valid user's groups are ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
        }
      }
      if (this.fixtures.nextValid === undefined) {
        // A second call answers the same: no one-shot state.
        await this.expectAllowed(provider, username, password, "the valid credentials, asked again");
        return;
      }
      const next = this.fixtures.nextValid();
      await this.expectAllowed(provider, next.username, next.password, "fresh valid credentials (fixtures.nextValid)");
      await this.expectDenied(provider, username, password, "a one-time credential presented again after its use");
    });
  }

  /** The valid credentials for a call that expects an allow: fresh ones for a one-time provider. */
  private validCredentials(): { readonly username: string; readonly password: string } {
    return this.fixtures.nextValid?.() ?? this.fixtures.valid;
  }

  async deny(username: string, password: string, what: string): Promise<void> {
    await this.with(this.factory, (provider) => this.expectDenied(provider, username, password, what));
  }

  async empty(): Promise<void> {
    const { username, password } = this.fixtures.valid;
    await this.with(this.factory, async (provider) => {
      await this.expectDenied(provider, username, "", "the valid username with an empty password");
      await this.expectDenied(provider, "", password, "an empty username with the valid password");
      await this.expectDenied(provider, "", "", "an empty username and password");
    });
  }

  async long(): Promise<void> {
    const { username, password } = this.fixtures.valid;
    const ascii = "a".repeat(255);
    const multibyte = `${"é".repeat(127)}a`; // 255 bytes of UTF-8
    await this.with(this.factory, async (provider) => {
      await this.expectDenied(provider, username, ascii, "the valid username with a 255-byte password");
      await this.expectDenied(provider, username, multibyte, "the valid username with a 255-byte UTF-8 password");
      await this.expectDenied(provider, ascii, password, "a 255-byte username");
      await this.expectDenied(provider, multibyte, multibyte, "a 255-byte UTF-8 username and password");
      const padded = password + "x".repeat(Math.max(0, 255 - Buffer.byteLength(password)));
      if (padded !== password) {
        await this.expectDenied(provider, username, padded, "the valid password padded to 255 bytes");
      }
    });
  }

  async oddBytes(): Promise<void> {
    const { username, password } = this.fixtures.valid;
    // Variants of the valid credentials: a backend that truncates at NUL or treats them as a
    // pattern would allow these.
    const mustDeny: [string, string, string][] = [
      [username, `${password}\0junk`, "the valid password, NUL, then more bytes"],
      [username, `\0${password}`, "NUL then the valid password"],
      [username, password.slice(0, -1), "the valid password minus its last character"],
      [`${username}\0`, password, "the valid username followed by NUL, with the valid password"],
      [`${username}\0other`, password, "the valid username, NUL, more bytes, with the valid password"],
      ["*", password, "username * with the valid password"],
      [`${username.slice(0, 1)}*`, password, "a wildcard prefix of the valid username with the valid password"],
      [`*)(uid=*))(|(uid=*`, password, "an LDAP filter injection username"],
      [`${username}' OR '1'='1`, password, "an SQL injection username"],
      [`${username}\r\nX: y`, password, "a CRLF injection username"],
      [username, "*", "password *"],
    ];
    const anyAnswer: [string, string, string][] = [
      ["\0", "\0", "NUL username and password"],
      ["ünïcødé-用户-😀", "pässwörd-密码-🔑", "non-ASCII username and password"],
      ["\u202e\u200b\ufeff", "\ufffd\u0001\u007f", "control and invisible characters"],
      ["%00%2a", "\\\\'\"`$(){}[]", "escapes and shell/query syntax"],
    ];
    await this.with(this.factory, async (provider) => {
      for (const [user, pass, what] of mustDeny) {
        if (user === username && pass === password) continue;
        await this.expectDenied(provider, user, pass, what);
      }
      for (const [user, pass, what] of anyAnswer) {
        const settled = await this.call(provider, user, pass, what);
        if (settled.kind === "rejected") {
          fail(
            `${what}: authenticate() threw ${firstLine(settled.error)}; odd input is bad credentials, not a broken backend`,
          );
        }
        if (settled.kind === "resolved") this.checkShape(settled.value, user, what);
      }
    });
  }

  async trailingNul(): Promise<void> {
    const { username, password } = this.fixtures.valid;
    await this.with(this.factory, async (provider) => {
      await this.expectDenied(provider, username, `${password}\0`, "the valid password followed by NUL");
      await this.expectDenied(provider, username, `${password}\0\0\0`, "the valid password followed by three NULs");
    });
  }

  async abortBefore(): Promise<void> {
    const { username, password } = this.fixtures.valid;
    await this.with(this.factory, async (provider) => {
      const controller = new AbortController();
      controller.abort(new Error("the client left"));
      const settled = await this.call(provider, username, password, "a call with an aborted signal", {
        signal: controller.signal,
        timeoutMs: this.abortSettleMs,
      });
      if (settled.kind === "resolved") this.checkShape(settled.value, username, "a call with an aborted signal");
    });
  }

  async abortMidFlight(): Promise<void> {
    const { username, password } = this.fixtures.valid;
    await this.with(this.fixtures.stalledFactory ?? this.factory, async (provider) => {
      const controller = new AbortController();
      const started = 50;
      const pending = settleWithin(
        () => provider.authenticate(request(username, password), controller.signal),
        started + this.abortSettleMs,
      );
      await new Promise((resolve) => setTimeout(resolve, started));
      controller.abort(new Error("deadline passed"));
      const settled = await pending;
      if (settled.kind === "timeout") {
        fail(`a call aborted mid-flight did not settle within ${String(this.abortSettleMs)} ms of the abort`);
      }
      this.checkNoLeak(settled, password, "the aborted call");
      if (settled.kind === "resolved") this.checkShape(settled.value, username, "the aborted call");
    });
  }

  async concurrency(): Promise<void> {
    const count = this.fixtures.concurrency ?? 1000;
    const { username, password } = this.fixtures.valid;
    // Valid and wrong passwords interleaved (answers must not cross between calls); unknown
    // users now and then only, as their dummy KDF work may cost far more than a real check.
    // A one-time provider gets fresh valid credentials for every call that expects an allow.
    const pick = (index: number): [string, string, boolean] => {
      if (index % 50 === 49) return [this.fixtures.unknownUser, password, false];
      if (index % 2 === 1) return [username, this.fixtures.wrongPassword, false];
      const valid = this.validCredentials();
      return [valid.username, valid.password, true];
    };
    await this.with(this.factory, async (provider) => {
      const progress = { lastSettledAt: performance.now(), pending: count };
      const all = Promise.all(
        Array.from({ length: count }, (_, index) => {
          const [user, pass, allowed] = pick(index);
          const what = `concurrent call ${String(index)}`;
          return this.call(provider, user, pass, what, { timeoutMs: this.concurrencyTimeoutMs }).then((settled) => {
            progress.lastSettledAt = performance.now();
            progress.pending--;
            return { index, user, pass, allowed, settled };
          });
        }),
      );
      const results = await this.whileProgressing(all, progress, count);
      const wrong: string[] = [];
      for (const { index, user, allowed, settled } of results) {
        if (settled.kind === "rejected") {
          wrong.push(`call ${String(index)} threw ${firstLine(settled.error)}`);
          continue;
        }
        if (settled.kind !== "resolved") continue;
        const outcome = normalizeAuthResult(settled.value, user);
        if (outcome.ok !== allowed || (!outcome.ok && outcome.invalid)) {
          wrong.push(
            `call ${String(index)} (${allowed ? "valid" : "invalid"} credentials) got ${describe(settled.value)}`,
          );
        }
      }
      if (wrong.length > 0) {
        fail(
          `${String(wrong.length)} of ${String(count)} concurrent calls were wrong: ${wrong.slice(0, 5).join("; ")}`,
        );
      }
    });
  }

  /**
   * Waits for `all`, failing when no call has settled for `timeoutMs` while some are pending: a
   * KDF-bound provider answers 1000 calls slowly but steadily, a hung one stops answering.
   */
  private async whileProgressing<T>(
    all: Promise<T>,
    progress: { readonly lastSettledAt: number; readonly pending: number },
    count: number,
  ): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      const watch = (): void => {
        const idleMs = performance.now() - progress.lastSettledAt;
        if (idleMs < this.timeoutMs) {
          timer = setTimeout(watch, this.timeoutMs - idleMs);
          return;
        }
        reject(
          new AssertionError({
            message: `${String(progress.pending)} of ${String(count)} concurrent calls did not settle, and none settled for ${String(this.timeoutMs)} ms`,
          }),
        );
      };
      timer = setTimeout(watch, this.timeoutMs);
    });
    try {
      return await Promise.race([all, stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const provider = await this.start(this.factory);
    if (provider.close === undefined) return;
    for (const attempt of ["close()", "a second close()"]) {
      const settled = await settleWithin(() => provider.close!(), this.timeoutMs);
      if (settled.kind === "timeout") fail(`${attempt} did not settle within ${String(this.timeoutMs)} ms`);
      if (settled.kind === "rejected")
        fail(`${attempt} rejected: ${firstLine(settled.error)}; close() must be idempotent`);
    }
  }

  /** A provider without health() has nothing to check: reported as skipped, not as passed. */
  async health(context: CheckContext): Promise<void> {
    const found = { health: true };
    await this.with(this.factory, async (provider) => {
      if (provider.health === undefined) {
        found.health = false;
        return;
      }
      const settled = await settleWithin(() => provider.health!(AbortSignal.timeout(this.timeoutMs)), this.timeoutMs);
      if (settled.kind === "timeout") fail(`health() did not settle within ${String(this.timeoutMs)} ms`);
      if (settled.kind === "rejected") fail(`health() rejected on a healthy backend: ${firstLine(settled.error)}`);
    });
    if (!found.health) {
      context.skip?.("the provider has no health() (optional in the contract)");
      return;
    }
    if (this.fixtures.brokenFactory === undefined) return;
    await this.with(
      this.fixtures.brokenFactory,
      async (provider) => {
        if (provider.health === undefined) return;
        const settled = await settleWithin(() => provider.health!(AbortSignal.timeout(this.timeoutMs)), this.timeoutMs);
        if (settled.kind === "timeout")
          fail(`health() of a broken backend did not settle within ${String(this.timeoutMs)} ms`);
        if (settled.kind === "resolved") fail("health() resolved although the backend is broken (brokenFactory)");
        this.checkNoLeak(settled, this.fixtures.valid.password, "health() of a broken backend");
      },
      { initMayFail: true },
    );
  }

  async broken(): Promise<void> {
    const { username, password } = this.fixtures.valid;
    await this.with(
      this.fixtures.brokenFactory!,
      async (provider) => {
        for (const [user, pass, what] of [
          [username, password, "the valid credentials against a broken backend"],
          [username, this.fixtures.wrongPassword, "a wrong password against a broken backend"],
        ] as const) {
          const settled = await this.call(provider, user, pass, what);
          if (settled.kind === "resolved") {
            fail(
              `${what}: authenticate() answered ${describe(settled.value)}; a broken backend must throw (reject), never answer`,
            );
          }
        }
      },
      { initMayFail: true },
    );
  }

  /** Creates, inits, runs `body`, closes. A leak in an init() error fails the check too. */
  private async with(
    factory: ProviderFactory,
    body: (provider: AuthProvider) => Promise<void>,
    options: { readonly initMayFail?: boolean } = {},
  ): Promise<void> {
    const logsBefore = this.fixtures.logs?.().length ?? 0;
    let provider: AuthProvider;
    try {
      provider = await this.start(factory);
    } catch (error) {
      if (options.initMayFail === true) {
        this.checkNoLeak({ kind: "rejected", error }, this.fixtures.valid.password, "init() of a broken backend");
        this.checkLogs(logsBefore);
        return;
      }
      throw error;
    }
    try {
      await body(provider);
    } finally {
      await settleWithin(() => provider.close?.() ?? Promise.resolve(), this.timeoutMs);
    }
    this.checkLogs(logsBefore);
  }

  /** No log line written since `from` may carry a fixture password, at any level. */
  private checkLogs(from: number): void {
    const lines = this.fixtures.logs?.().slice(from) ?? [];
    for (const secret of new Set([this.fixtures.valid.password, this.fixtures.wrongPassword])) {
      if (secret.length < 3) continue;
      const line = lines.find((text) => text.includes(secret));
      if (line !== undefined) fail(`a log line carries the password: ${line.replaceAll(secret, "<password>")}`);
    }
  }

  private async start(factory: ProviderFactory): Promise<AuthProvider> {
    const provider = await factory();
    if (typeof provider.authenticate !== "function") fail("the factory's provider has no authenticate()");
    const settled = await settleWithin(() => provider.init?.() ?? Promise.resolve(), this.timeoutMs);
    if (settled.kind === "timeout") fail(`init() did not settle within ${String(this.timeoutMs)} ms`);
    if (settled.kind === "rejected") throw settled.error;
    return provider;
  }

  /** One authenticate() under a deadline; a hang fails, and a rejection must not carry the password. */
  private async call(
    provider: AuthProvider,
    username: string,
    password: string,
    what: string,
    options: { readonly signal?: AbortSignal; readonly timeoutMs?: number } = {},
  ): Promise<Settled> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const signal = options.signal ?? new AbortController().signal;
    const settled = await settleWithin(() => provider.authenticate(request(username, password), signal), timeoutMs);
    if (settled.kind === "timeout") fail(`${what}: authenticate() did not settle within ${String(timeoutMs)} ms`);
    this.checkNoLeak(settled, password, what);
    return settled;
  }

  private checkNoLeak(settled: Settled, password: string, what: string): void {
    if (settled.kind !== "rejected") return;
    if (!(settled.error instanceof Error)) {
      fail(`${what}: rejected with ${describe(settled.error)}, not an Error`);
    }
    const text = errorText(settled.error);
    for (const secret of new Set([password, this.fixtures.valid.password, this.fixtures.wrongPassword])) {
      if (secret.length >= 3 && text.includes(secret)) {
        fail(`${what}: the error carries the password (${firstLine(settled.error).replaceAll(secret, "<password>")})`);
      }
    }
  }

  private async expectAllowed(
    provider: AuthProvider,
    username: string,
    password: string,
    what: string,
  ): Promise<NormalizedAuthInfo> {
    const settled = await this.call(provider, username, password, what);
    if (settled.kind === "rejected")
      fail(`${what}: authenticate() threw ${firstLine(settled.error)}; expected an allow`);
    if (settled.kind !== "resolved") fail(`${what}: no answer`);
    const outcome = normalizeAuthResult(settled.value, username);
    if (!outcome.ok) {
      fail(
        outcome.invalid
          ? `${what}: authenticate() returned an invalid result (${outcome.detail}); the host denies it`
          : `${what}: denied (${outcome.detail}); expected an allow`,
      );
    }
    return outcome.info;
  }

  private async expectDenied(provider: AuthProvider, username: string, password: string, what: string): Promise<void> {
    const settled = await this.call(provider, username, password, what);
    if (settled.kind === "rejected") {
      fail(`${what}: authenticate() threw ${firstLine(settled.error)}; bad credentials must be false, not an error`);
    }
    if (settled.kind !== "resolved") return;
    const outcome = normalizeAuthResult(settled.value, username);
    if (outcome.ok) fail(`${what}: ALLOWED (${describe(settled.value)}); expected false`);
    if (outcome.invalid) fail(`${what}: authenticate() returned an invalid result (${outcome.detail}); expected false`);
  }

  private checkShape(value: unknown, username: string, what: string): void {
    const outcome = normalizeAuthResult(value, username);
    if (!outcome.ok && outcome.invalid) fail(`${what}: authenticate() returned an invalid result (${outcome.detail})`);
  }
}

function request(username: string, password: string): AuthRequest {
  return { username, password, connMeta: CONN_META };
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    text = inspect(value, { depth: 2 });
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function fail(message: string): never {
  throw new AssertionError({ message });
}
