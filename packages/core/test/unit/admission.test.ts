import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionLimit } from "../../dist/listener/connection-limit.js";
import { DEFAULT_MAX_UNAUTHENTICATED_PER_IP, resolveListenerOptions } from "../../dist/listener/options.js";
import { FALLBACK_SOFT_FD_LIMIT, fdBudget, parseSoftFdLimit, readSoftFdLimit } from "../../dist/listener/fd-budget.js";
import { LimitEpisodes, RateLimitedCount, UnauthenticatedSessions } from "../../dist/listener/admission.js";
import { ProxyStats } from "@gatehouse-proxy/core/engine";
import type { Admittable } from "../../dist/listener/admission.js";
import type { Logger } from "@gatehouse-proxy/core";
import type { ShedReason } from "@gatehouse-proxy/core/engine";

const PROC_LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe("the fd limit and the connection budget", () => {
  it("reads the soft limit from /proc/self/limits text", () => {
    assert.equal(parseSoftFdLimit(PROC_LIMITS), 1024);
    assert.equal(parseSoftFdLimit(PROC_LIMITS.replace("1024   ", "unlimited")), "unlimited");
    assert.equal(parseSoftFdLimit("Max cpu time unlimited unlimited seconds\n"), undefined);
    assert.equal(parseSoftFdLimit("Max open files  lots  524288  files\n"), undefined);
  });

  it("falls back to 1024 when the file cannot be read or parsed", () => {
    assert.deepEqual(
      readSoftFdLimit(() => PROC_LIMITS),
      { limit: 1024, source: "proc" },
    );
    const missing = (): string => {
      throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    };
    assert.deepEqual(readSoftFdLimit(missing), { limit: FALLBACK_SOFT_FD_LIMIT, source: "fallback" });
    assert.deepEqual(
      readSoftFdLimit(() => "garbage"),
      { limit: FALLBACK_SOFT_FD_LIMIT, source: "fallback" },
    );
    const here = readSoftFdLimit();
    assert.equal(here.source, "proc", "this machine is Linux");
  });

  it("keeps limit/8 (64..4096) in reserve and allows two descriptors per connection", () => {
    const budget = (limit: number) => {
      const { reserve, maxConnections } = fdBudget({ limit, source: "proc" });
      return [reserve, maxConnections];
    };
    assert.deepEqual(budget(256), [64, 96]);
    assert.deepEqual(budget(1024), [128, 448]);
    assert.deepEqual(budget(20_000), [2500, 8750]);
    assert.deepEqual(budget(65_536), [4096, 30_720]);
    assert.deepEqual(budget(1_048_576), [4096, 522_240]);
    assert.deepEqual(budget(100), [64, 18]);
    assert.deepEqual(budget(64), [64, 1], "never zero: a tiny limit still serves one connection");
    assert.deepEqual(fdBudget({ limit: "unlimited", source: "proc" }).maxConnections, 0);
  });
});

describe("max_unauthenticated_per_ip option", () => {
  it("defaults to 256 and accepts 0 (off)", () => {
    assert.equal(DEFAULT_MAX_UNAUTHENTICATED_PER_IP, 256);
    assert.equal(resolveListenerOptions({ listen: "127.0.0.1:0" }, "l").maxUnauthenticatedPerIp, 256);
    const off = resolveListenerOptions({ listen: "127.0.0.1:0", max_unauthenticated_per_ip: 0 }, "l");
    assert.equal(off.maxUnauthenticatedPerIp, 0);
    assert.throws(
      () => resolveListenerOptions({ listen: "127.0.0.1:0", max_unauthenticated_per_ip: -1 }, "listeners[0]"),
      /listeners\[0\]\.max_unauthenticated_per_ip: expected 0 \(no limit\) or more/,
    );
  });
});

class FakeSession implements Admittable {
  evicted: ShedReason | undefined;
  constructor(
    readonly clientIp: string,
    public evictable = true,
    private readonly onEvict: (session: FakeSession) => void = () => undefined,
  ) {}
  evict(reason: ShedReason): void {
    this.evicted = reason;
    this.onEvict(this);
  }
}

describe("UnauthenticatedSessions", () => {
  it("counts per address and picks the oldest session waiting on its client", () => {
    const sessions = new UnauthenticatedSessions<FakeSession>();
    const a1 = new FakeSession("10.0.0.1", false); // waiting on its auth provider
    const b1 = new FakeSession("10.0.0.2");
    const a2 = new FakeSession("10.0.0.1");
    const a3 = new FakeSession("10.0.0.1");
    for (const session of [a1, b1, a2, a3]) sessions.add(session);
    assert.equal(sessions.count("10.0.0.1"), 3);
    assert.equal(sessions.count("10.0.0.2"), 1);
    assert.equal(sessions.count("10.0.0.3"), 0);
    assert.equal(sessions.oldestEvictable("10.0.0.1"), a2);
    assert.equal(sessions.oldestEvictable(), b1);
    assert.equal(sessions.oldestEvictable("10.0.0.3"), undefined);
    sessions.delete(a2);
    sessions.delete(a2);
    assert.equal(sessions.count("10.0.0.1"), 2);
    assert.equal(sessions.oldestEvictable("10.0.0.1"), a3);
    sessions.delete(a3);
    assert.equal(sessions.oldestEvictable("10.0.0.1"), undefined, "a session waiting on a provider is never picked");
    sessions.delete(a1);
    sessions.delete(b1);
    assert.equal(sessions.size, 0);
    assert.equal(sessions.count("10.0.0.1"), 0);
  });
});

describe("LimitEpisodes", () => {
  it("one episode while the count stays near the limit; over once it falls to 90%", () => {
    const episodes = new LimitEpisodes(100);
    assert.ok(episodes.shed("evicted", 1000), "the first shed starts the episode");
    assert.equal(episodes.shed("refused", 1001), undefined);
    assert.equal(episodes.shed("evicted", 1002), undefined);
    assert.equal(episodes.released(99), undefined);
    assert.equal(episodes.released(91), undefined);
    assert.deepEqual(episodes.released(90), { startedAt: 1000, refused: 1, evicted: 2 });
    assert.equal(episodes.active, undefined);
    assert.equal(episodes.released(10), undefined, "reported once");
    assert.ok(episodes.shed("refused", 2000), "a new episode");
  });
});

describe("RateLimitedCount", () => {
  it("logs the first at once, then at most one summed line per interval", () => {
    const notices = new RateLimitedCount(10_000);
    assert.deepEqual(notices.note("10.0.0.1", 0), { count: 1, addresses: ["10.0.0.1"] });
    assert.equal(notices.note("10.0.0.1", 1000), undefined);
    for (let i = 0; i < 100; i++) assert.equal(notices.note(`10.0.1.${String(i)}`, 2000 + i), undefined);
    assert.equal(notices.nextDueAt(), 10_000);
    assert.equal(notices.flush(9999), undefined);
    const line = notices.flush(10_000);
    assert.equal(line?.count, 101);
    assert.equal(line.addresses.length, RateLimitedCount.MAX_ADDRESSES);
    assert.deepEqual(line.addresses.slice(0, 2), ["10.0.0.1", "10.0.1.0"]);
    assert.equal(notices.nextDueAt(), undefined);
    assert.equal(notices.flush(50_000), undefined, "nothing waiting");
    assert.deepEqual(notices.note("10.0.0.9", 50_000), { count: 1, addresses: ["10.0.0.9"] });
  });
});

interface Line {
  readonly level: string;
  readonly fields: Record<string, unknown>;
}

function recordingLogger(lines: Line[]): Logger {
  const push = (level: string) => (fields: object) => void lines.push({ level, fields: fields as Line["fields"] });
  const logger: Logger = {
    debug: push("debug"),
    info: push("info"),
    warn: push("warn"),
    error: push("error"),
    child: () => logger,
  };
  return logger;
}

describe("ConnectionLimit", () => {
  function setup(limit: number) {
    const unauthenticated = new UnauthenticatedSessions<FakeSession>();
    const open = new Set<FakeSession>();
    const stats = new ProxyStats();
    const lines: Line[] = [];
    let now = 5000;
    const connectionLimit = new ConnectionLimit({
      limit,
      reason: "fd_reserve",
      open: () => open.size,
      unauthenticated,
      stats,
      logger: recordingLogger(lines),
      details: { fd_limit: 256 },
      now: () => now,
    });
    const close = (session: FakeSession): void => {
      open.delete(session);
      unauthenticated.delete(session);
      connectionLimit.closed();
    };
    const arrive = (ip: string): FakeSession | undefined => {
      if (!connectionLimit.admit("l1")) return undefined;
      const session = new FakeSession(ip, true, close);
      open.add(session);
      unauthenticated.add(session);
      return session;
    };
    return { connectionLimit, unauthenticated, open, stats, lines, arrive, close, tick: (ms: number) => (now += ms) };
  }

  it("makes room by closing the oldest silent connection, refuses when none can go, logs each episode once", () => {
    const { open, stats, lines, arrive, close, unauthenticated, tick } = setup(10);
    const first = Array.from({ length: 10 }, (_, i) => arrive(`127.0.0.${String(i % 3)}`)!);
    assert.equal(lines.length, 0);
    assert.equal(stats.connectionsRefused, 0);

    // Full: each newcomer takes the place of the oldest silent one.
    const second = Array.from({ length: 15 }, () => arrive("127.0.0.9"));
    assert.ok(second.every((session) => session !== undefined));
    assert.equal(open.size, 10);
    assert.ok(first.every((session) => session.evicted === "fd_reserve"));
    assert.equal(stats.shed.get("l1")?.evicted.fd_reserve, 15);

    // Sessions that authenticated cannot be evicted: with all of them settled the newcomer is refused.
    for (const session of open) unauthenticated.delete(session);
    assert.equal(arrive("127.0.0.9"), undefined);
    assert.equal(arrive("127.0.0.9"), undefined);
    assert.equal(stats.shed.get("l1")?.refused.fd_reserve, 2);
    assert.equal(stats.connectionsRefused, 2);

    const reached = lines.filter((line) => line.fields.event === "connection_limit_reached");
    assert.equal(reached.length, 1, "one line for the whole episode");
    assert.equal(reached[0]!.level, "warn");
    assert.deepEqual(
      { ...reached[0]!.fields },
      { event: "connection_limit_reached", limit_name: "fd_reserve", limit: 10, open: 10, fd_limit: 256 },
    );
    assert.equal(stats.limitsReached.fd_reserve, 1);

    // Back under 90% of the limit: recovered, with the episode's counts.
    tick(30_000);
    close([...open][0]!);
    assert.equal(lines.filter((line) => line.fields.event === "connection_limit_recovered").length, 1);
    const recovered = lines.find((line) => line.fields.event === "connection_limit_recovered")!;
    assert.equal(recovered.level, "info");
    assert.deepEqual(
      { ...recovered.fields },
      {
        event: "connection_limit_recovered",
        limit_name: "fd_reserve",
        limit: 10,
        open: 9,
        refused: 2,
        evicted: 15,
        duration_ms: 30_000,
      },
    );

    // A second episode is a second pair of lines and a second count.
    arrive("127.0.0.1");
    arrive("127.0.0.1");
    assert.equal(lines.filter((line) => line.fields.event === "connection_limit_reached").length, 2);
    assert.equal(stats.limitsReached.fd_reserve, 2);
  });

  it("an eviction does not end the episode it belongs to, even at a limit of one", () => {
    const { lines, arrive } = setup(1);
    for (let i = 0; i < 5; i++) assert.ok(arrive("127.0.0.1"));
    assert.equal(lines.filter((line) => line.fields.event === "connection_limit_reached").length, 1);
    assert.equal(lines.filter((line) => line.fields.event === "connection_limit_recovered").length, 0);
  });

  it("limit 0 admits everything", () => {
    const { arrive, stats, lines } = setup(0);
    for (let i = 0; i < 50; i++) assert.ok(arrive("127.0.0.1"));
    assert.equal(stats.shed.size, 0);
    assert.equal(lines.length, 0);
  });
});
