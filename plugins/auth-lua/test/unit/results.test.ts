import "reflect-metadata";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { noSignal, request, startPolicy } from "../helpers.js";

/** One script; the username picks what the handler returns. */
const SHAPES = `
local ident = function(name, context) return { identity = name, context = context or 'ProxyAuthRfc1929' } end
local shapes = {
  ['true'] = function() return true end,
  ['false'] = function() return false end,
  ['nil'] = function() return nil end,
  ['nothing'] = function() end,
  ['number'] = function() return 1 end,
  ['string'] = function() return 'true' end,
  ['function'] = function() return print end,
  ['info'] = function(u) return { identities = { ident(u) } } end,
  ['info-groups'] = function(u) return { identities = { ident(u) }, groups = { 'g1', 'g2' } } end,
  ['info-two'] = function(u) return { identities = { ident(u), ident('svc', 'GenericAuth') }, groups = {} } end,
  ['info-empty'] = function() return { identities = {} } end,
  ['info-missing'] = function() return { groups = { 'g' } } end,
  ['empty-table'] = function() return {} end,
  ['array'] = function(u) return { ident(u) } end,
  ['bad-context'] = function(u) return { identities = { ident(u, 'Nope') } } end,
  ['bad-identity'] = function() return { identities = { { identity = 7, context = 'ProxyAuthRfc1929' } } } end,
  ['bad-groups'] = function(u) return { identities = { ident(u) }, groups = { 'g', 5 } } end,
  ['groups-string'] = function(u) return { identities = { ident(u) }, groups = 'g' } end,
  ['mixed'] = function(u) return { identities = { ident(u), x = 1 } } end,
  ['sparse'] = function(u) return { identities = { [1] = ident(u), [3] = ident(u) } } end,
  ['cyclic'] = function(u) local t = { identities = {} } t.identities[1] = t return t end,
  ['self'] = function() local t = {} t.identities = t return t end,
  ['huge'] = function(u) local ids = {} for i = 1, 2000 do ids[i] = ident(u) end return { identities = ids } end,
  ['deep'] = function() local t = {} for i = 1, 100 do t = { identities = { t } } end return t end,
  ['bad-utf8'] = function() return { identities = { ident('\\255\\254') } } end,
  ['error'] = function() error('policy broke') end,
  ['error-table'] = function() error({ code = 1 }) end,
}
kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
  return shapes[username](username)
end)
`;

describe("return values map onto the core contract", () => {
  let policy: Awaited<ReturnType<typeof startPolicy>>;
  before(async () => {
    policy = await startPolicy(SHAPES, { call_timeout: 10_000 });
  });
  after(() => policy.close());

  const ask = (shape: string) => policy.provider.authenticate(request(shape, "pw"), noSignal);
  const id = (identity: string, context = "ProxyAuthRfc1929") => ({ identity, context });

  it("true and false", async () => {
    assert.equal(await ask("true"), true);
    assert.equal(await ask("false"), false);
  });

  it("AuthInfo tables: identities and groups as returned", async () => {
    assert.deepEqual(await ask("info"), { identities: [id("info")], groups: [] });
    assert.deepEqual(await ask("info-groups"), { identities: [id("info-groups")], groups: ["g1", "g2"] });
    assert.deepEqual(await ask("info-two"), { identities: [id("info-two"), id("svc", "GenericAuth")], groups: [] });
  });

  it("an AuthInfo with no identities is a plain deny", async () => {
    assert.equal(await ask("info-empty"), false);
  });

  for (const shape of [
    "nil",
    "nothing",
    "number",
    "string",
    "function",
    "info-missing",
    "empty-table",
    "array",
    "bad-context",
    "bad-identity",
    "bad-groups",
    "groups-string",
    "mixed",
    "sparse",
    "cyclic",
    "self",
    "huge",
    "deep",
    "bad-utf8",
  ]) {
    it(`${shape} → deny (false) with a log line`, async () => {
      const before = policy.logger.lines.length;
      assert.equal(await ask(shape), false);
      const logged = policy.logger.lines.slice(before).join("\n");
      assert.match(logged, /"event":"lua_invalid_result"/);
    });
  }

  it("a Lua error throws (the pipeline denies and logs it) with the message and line", async () => {
    await assert.rejects(ask("error"), /policy\.lua:\d+: policy broke/);
    await assert.rejects(ask("error-table"), /error object is a table value/);
    assert.match(policy.logger.text(), /"event":"lua_error".*policy\.lua:\d+: policy broke/);
  });
});
