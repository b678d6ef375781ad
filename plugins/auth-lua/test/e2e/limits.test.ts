import "reflect-metadata";
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProxyServer } from "@gatehouse-proxy/core/engine";
import { curlThrough, noSignal, request, startHttp, startPolicy, startProxy } from "../helpers.js";

/** Long enough that the instruction budget, not the clock, stops the pure-Lua loops even on a loaded machine. */
const CALL_TIMEOUT_MS = 3000;
/**
 * The innocent client's bound. The requirement is "within a second", which holds on an idle
 * machine (about 50-150 ms here); the assertion allows for a loaded 2-core CI box where the
 * runaway worker itself holds one core.
 */
const GOOD_CLIENT_BOUND_MS = 2500;

/** One script; the username picks the attack, `good` is the innocent client. */
const ATTACKS = `
local attacks = {
  ['good'] = function() return true end,
  ['while-true'] = function() while true do end end,
  ['pcall-loop'] = function() while true do pcall(function() while true do end end) end end,
  ['xpcall-loop'] = function() while true do xpcall(function() while true do end end, function() while true do end end) end end,
  ['swallow'] = function() pcall(function() while true do end end) return true end,
  ['pattern-bomb'] = function() return string.find(string.rep('a', 5000), string.rep('a*', 30) .. 'b') ~= nil end,
  ['rep'] = function() return #string.rep('x', 2^28) > 0 end,
  ['rep-method'] = function() return #('x'):rep(2^28) > 0 end,
  ['concat'] = function() local s = 'x' for i = 1, 28 do s = s .. s end return #s > 0 end,
  ['table-bomb'] = function() local t = {} local i = 0 while true do i = i + 1 t[i] = { i, i, i } end end,
  ['format'] = function() local big = string.rep('x', 2^20) return #string.format(string.rep('%s', 64), table.unpack((function() local a = {} for i = 1, 64 do a[i] = big end return a end)())) > 0 end,
  ['table-concat'] = function() local a = {} local big = string.rep('x', 2^20) for i = 1, 64 do a[i] = big end return #table.concat(a) > 0 end,
  ['gsub'] = function() return #string.gsub(string.rep('x', 2^20), 'x', 'yyyyyyyy') > 0 end,
  ['recursion'] = function() local function f() return 1 + f() end return f() end,
}
kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
  if username == 'leak' then error('bad password ' .. password .. ' for ' .. username) end
  return attacks[username]()
end)
`;

describe("runaway scripts are stopped and the proxy keeps serving (curl, real engine)", () => {
  let http: { server: Server; url: string };
  let policy: Awaited<ReturnType<typeof startPolicy>>;
  let proxy: { port: number; server: ProxyServer };

  before(async () => {
    http = await startHttp();
    policy = await startPolicy(ATTACKS, { workers: 3, call_timeout: CALL_TIMEOUT_MS });
    proxy = await startProxy(policy.provider);
  });
  after(async () => {
    await proxy.server.close();
    await policy.close();
    http.server.close();
  });

  for (const attack of [
    "while-true",
    "pcall-loop",
    "xpcall-loop",
    "swallow",
    "pattern-bomb",
    "rep",
    "rep-method",
    "concat",
    "table-bomb",
    "format",
    "table-concat",
    "gsub",
    "recursion",
  ]) {
    it(`${attack}: denied with an error log, another client served within a second`, async () => {
      const logsBefore = policy.logger.lines.length;
      const started = Date.now();
      const attacked = curlThrough(proxy.port, `${http.url}/attack`, `${attack}:pw`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const goodStarted = Date.now();
      const good = await curlThrough(proxy.port, `${http.url}/good`, "good:pw");
      const goodMs = Date.now() - goodStarted;
      assert.equal(good.exitCode, 0);
      assert.equal(good.stdout, "hello /good");
      assert.ok(goodMs < GOOD_CLIENT_BOUND_MS, `the good client took ${String(goodMs)} ms`);
      assert.equal((await attacked).exitCode, 97);
      assert.ok(Date.now() - started < CALL_TIMEOUT_MS + 2000, "the attack ended within the call timeout");
      const logged = policy.logger.lines.slice(logsBefore).join("\n");
      // The host's logger is bound to the instance and plugin names.
      assert.match(
        logged,
        /"level":"error","provider":"policy","plugin":"@gatehouse-proxy\/auth-lua","event":"lua_error"/,
      );
    });
  }

  it("budget errors say why; a result after the budget ran out is discarded", async () => {
    await assert.rejects(policy.provider.authenticate(request("swallow", "pw"), noSignal), /instruction budget/);
    await assert.rejects(policy.provider.authenticate(request("concat", "pw"), noSignal), /string too large/);
    await assert.rejects(policy.provider.authenticate(request("rep", "pw"), noSignal), /string\.rep/);
    await assert.rejects(
      policy.provider.authenticate(request("pattern-bomb", "pw"), noSignal),
      /longer than 3000 ms; worker replaced/,
    );
  });

  it("error(password) is redacted in the log and in the thrown error", async () => {
    const password = "hunter2-secret";
    const result = await curlThrough(proxy.port, `${http.url}/leak`, `leak:${password}`);
    assert.equal(result.exitCode, 97);
    await assert.rejects(policy.provider.authenticate(request("leak", password), noSignal), (error: Error) => {
      assert.match(error.message, /policy\.lua:\d+: bad password \[REDACTED\] for leak/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
    assert.match(policy.logger.text(), /policy\.lua:\d+: bad password \[REDACTED\] for leak/);
    assert.doesNotMatch(policy.logger.text(), /hunter2/);
  });

  it("honours the AbortSignal: an aborted call rejects at once", async () => {
    const controller = new AbortController();
    const call = policy.provider.authenticate(request("while-true", "pw"), controller.signal);
    setTimeout(() => controller.abort(new Error("client left")), 20);
    const started = Date.now();
    await assert.rejects(call, /client left/);
    assert.ok(Date.now() - started < 500);
  });
});

describe("memory growth is bounded by memory_limit_mb", () => {
  it("a table bomb under a huge instruction budget stops at the memory limit; the worker then serves again", async () => {
    const policy = await startPolicy(
      `kumo.on('proxy_server_auth_rfc1929', function(username)
        if username == 'ok' then return true end
        local t = {} local i = 0
        while true do i = i + 1 t[i] = { i, tostring(i) .. '-padding-padding-padding' } end
      end)`,
      { workers: 1, instruction_limit: 1_000_000_000, memory_limit_mb: 64, call_timeout: 60_000 },
    );
    try {
      await assert.rejects(
        policy.provider.authenticate(request("bomb", "pw"), noSignal),
        /memory limit of 64 MiB exceeded/,
      );
      assert.equal(await policy.provider.authenticate(request("ok", "pw"), noSignal), true);
      assert.doesNotMatch(policy.logger.text(), /lua_worker_replaced/, "the hook stopped it, not a crash or the clock");
    } finally {
      await policy.close();
    }
  });
});
