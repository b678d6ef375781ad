import "reflect-metadata";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { noSignal, request, startPolicy } from "../helpers.js";

const ALLOWED = [
  "_G",
  "_VERSION",
  "assert",
  "error",
  "getmetatable",
  "ipairs",
  "kumo",
  "math",
  "next",
  "os",
  "pairs",
  "pcall",
  "print",
  "rawequal",
  "rawget",
  "rawlen",
  "rawset",
  "select",
  "setmetatable",
  "string",
  "table",
  "tonumber",
  "tostring",
  "type",
  "utf8",
  "xpcall",
];

/** A handler that returns an AuthInfo whose groups carry what the Lua code computed. */
function reporting(body: string): string {
  return `kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
  local report = {}
  ${body}
  return { identities = { { identity = username, context = 'ProxyAuthRfc1929' } }, groups = report }
end)
`;
}

async function report(body: string, username = "u", password = "pw-report"): Promise<string[]> {
  const policy = await startPolicy(reporting(body), { workers: 1 });
  try {
    const result = await policy.provider.authenticate(request(username, password), noSignal);
    assert.ok(typeof result === "object", `the handler failed: ${policy.logger.text()}`);
    return [...(result.groups ?? [])];
  } finally {
    await policy.close();
  }
}

describe("the Lua sandbox", () => {
  it("_G holds exactly the allowed names", async () => {
    const names = await report("for name in pairs(_G) do report[#report + 1] = name end table.sort(report)");
    assert.deepEqual(names, ALLOWED);
  });

  it("every forbidden function and library is absent", async () => {
    const forbidden = [
      "io",
      "debug",
      "package",
      "require",
      "load",
      "loadstring",
      "dofile",
      "loadfile",
      "collectgarbage",
      "coroutine",
      "module",
      "setfenv",
      "getfenv",
      "js",
      "fengari",
      "os.execute",
      "os.getenv",
      "os.exit",
      "os.remove",
      "os.rename",
      "os.tmpname",
      "os.setlocale",
      "string.dump",
      "string.pack",
    ];
    const present = await report(`
      for _, path in ipairs({ ${forbidden.map((name) => `'${name}'`).join(", ")} }) do
        local value = _G
        for part in string.gmatch(path, '[^.]+') do value = value and value[part] end
        if value ~= nil then report[#report + 1] = path end
      end`);
    assert.deepEqual(present, []);
  });

  it("os offers only time, clock and date; they work", async () => {
    const names = await report(`
      for name in pairs(os) do report[#report + 1] = name end table.sort(report)
      assert(type(os.time()) == 'number' and type(os.clock()) == 'number' and #os.date('%Y') == 4)`);
    assert.deepEqual(names, ["clock", "date", "time"]);
  });

  it("refuses binary chunks (scripts are loaded as text only)", async () => {
    await assert.rejects(startPolicy("\x1bLua\x53\x00"), /binary chunk/);
  });

  it("print and kumo.log_* go to the logger, with the password redacted", async () => {
    const policy = await startPolicy(
      `kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
        print('checking', username, 42, password)
        kumo.log_warn('careful', password)
        return true
      end)`,
      { workers: 1 },
    );
    try {
      assert.equal(await policy.provider.authenticate(request("alice", "s3cr3t-pw"), noSignal), true);
      const lines = policy.logger.lines.map(
        (line) => JSON.parse(line) as { level: string; msg: string; event?: string },
      );
      const printed = lines.filter((line) => line.event === "lua_log");
      assert.deepEqual(
        printed.map((line) => [line.level, line.msg]),
        [
          ["info", "checking\talice\t42\t[REDACTED]"],
          ["warn", "careful\t[REDACTED]"],
        ],
      );
      assert.doesNotMatch(policy.logger.text(), /s3cr3t-pw/);
    } finally {
      await policy.close();
    }
  });

  it("passes username and password 8-bit clean (NUL included) and conn_meta", async () => {
    const seen = await report(
      "report = { tostring(#username), tostring(#password), tostring(password:byte(2)), conn_meta.peer_address, conn_meta.local_address }",
      "al\0ce",
      "p\0wé",
    );
    assert.deepEqual(seen, ["5", "5", "0", "127.0.0.1:5000", "127.0.0.1:1080"]);
  });

  it("kumo.json_encode and kumo.json_decode round-trip", async () => {
    const seen = await report(`
      local value = kumo.json_decode('{"users":{"bob":{"groups":["a","b"]}},"n":3,"ok":true}')
      report = { value.users.bob.groups[2], tostring(value.n), tostring(value.ok),
        kumo.json_encode({ groups = { 'x', 'y' } }), kumo.json_encode({}),
        tostring(pcall(kumo.json_decode, '{bad')) }`);
    assert.deepEqual(seen, ["b", "3", "true", '{"groups":["x","y"]}', "{}", "false"]);
  });

  it("kumo.json_encode refuses cyclic tables and functions with a Lua error", async () => {
    const seen = await report(`
      local t = {} t.self = t
      local ok1, e1 = pcall(kumo.json_encode, t)
      local ok2, e2 = pcall(kumo.json_encode, { f = print })
      report = { tostring(ok1), tostring(e1):match('cyclic') or e1, tostring(ok2), tostring(e2):match('function') or e2 }`);
    assert.deepEqual(seen, ["false", "cyclic", "false", "function"]);
  });

  it("keeps module-level state across calls within a worker", async () => {
    const policy = await startPolicy(
      `local calls = 0
      kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
        calls = calls + 1
        return { identities = { { identity = username, context = 'ProxyAuthRfc1929' } }, groups = { tostring(calls) } }
      end)`,
      { workers: 1 },
    );
    try {
      for (const expected of ["1", "2", "3"]) {
        const result = await policy.provider.authenticate(request("u", "p"), noSignal);
        assert.ok(typeof result === "object");
        assert.deepEqual(result.groups, [expected]);
      }
    } finally {
      await policy.close();
    }
  });

  it("calls the global function named by `function:` instead of a kumo.on handler", async () => {
    const policy = await startPolicy(
      "function check_login(username, password, conn_meta) return username == 'ann' and password == 'pw' end",
      { function: "check_login", workers: 1 },
    );
    try {
      assert.equal(await policy.provider.authenticate(request("ann", "pw"), noSignal), true);
      assert.equal(await policy.provider.authenticate(request("ann", "nope"), noSignal), false);
    } finally {
      await policy.close();
    }
  });

  it("fails to load: a second handler for the event, no handler, a missing function, a syntax error, a runtime error", async () => {
    const handler = "kumo.on('proxy_server_auth_rfc1929', function() return true end)\n";
    await assert.rejects(startPolicy(handler + handler), /already registered/);
    await assert.rejects(startPolicy("local x = 1"), /registers no handler/);
    await assert.rejects(startPolicy(handler, { function: "missing" }), /no global function 'missing'/);
    await assert.rejects(startPolicy("kumo.on('proxy_server_auth_rfc1929', function()\n"), /policy\.lua:2:/);
    await assert.rejects(
      startPolicy("local t = nil\nlocal x = t.field\n" + handler),
      /policy\.lua:2: attempt to index/,
    );
    await assert.rejects(startPolicy("while true do end\n" + handler), /instruction budget/);
  });

  it("kumo.on inside a call is an error; other events only warn", async () => {
    const policy = await startPolicy(
      `kumo.on('smtp_server_message_received', function() end)
      kumo.on('proxy_server_auth_rfc1929', function(username)
        if username == 'late' then kumo.on('proxy_server_auth_rfc1929', function() return true end) end
        return true
      end)`,
      { workers: 1 },
    );
    try {
      assert.match(policy.logger.text(), /smtp_server_message_received.*is not used by Gatehouse/);
      await assert.rejects(
        policy.provider.authenticate(request("late", "pw-late"), noSignal),
        /registered when the script loads/,
      );
      assert.equal(await policy.provider.authenticate(request("ok", "pw-ok"), noSignal), true);
    } finally {
      await policy.close();
    }
  });
});
