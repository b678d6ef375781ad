import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { AuthProvider } from "@gatehouse-proxy/core";
import { curl } from "../helpers/curl.js";
import { startHttpServer } from "../helpers/servers.js";
import type { TestServer } from "../helpers/servers.js";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";

const seedProvider: AuthProvider = {
  name: "seed-example",
  authenticate({ username, password }) {
    if (password === "") return Promise.resolve(false);
    if (username === "proxyuser" && password === "secretpassword") {
      return Promise.resolve({
        identities: [{ identity: username, context: "ProxyAuthRfc1929" }],
        groups: ["proxy-users", "premium-tier"],
      });
    }
    return Promise.resolve(false);
  },
};

describe("curl through the proxy", () => {
  let http: TestServer;
  let open: TestProxy;
  let authed: TestProxy;

  before(async () => {
    http = await startHttpServer();
    open = await startProxy();
    authed = await startProxy({ listeners: [{ require_auth: true }], auth: { provider: seedProvider } });
  });
  after(async () => {
    await Promise.all([open.close(), authed.close(), http.close()]);
  });

  it("--socks5 (client resolves, ATYP IPv4) without auth", async () => {
    const result = await curl(["--socks5", `127.0.0.1:${open.port}`, `http://127.0.0.1:${http.port}/a`]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, "hello /a");
  });

  it("--socks5-hostname (proxy resolves, ATYP domain) without auth", async () => {
    const result = await curl(["--socks5-hostname", `127.0.0.1:${open.port}`, `http://localhost:${http.port}/b`]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, "hello /b");
  });

  it("--proxy-user with good credentials; the session keeps identity and groups", async () => {
    const before = authed.sessions.length;
    const result = await curl([
      "--socks5-hostname",
      `127.0.0.1:${authed.port}`,
      "--proxy-user",
      "proxyuser:secretpassword",
      `http://localhost:${http.port}/c`,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, "hello /c");
    const [record] = (await authed.sessionsEnded(before + 1)).slice(before);
    assert.ok(record);
    assert.equal(record.identity, "proxyuser");
    assert.deepEqual(record.groups, ["proxy-users", "premium-tier"]);
    assert.equal(record.reason, "completed");
  });

  it("--proxy-user with a wrong password is refused (curl exit 97) and the password is never logged", async () => {
    const result = await curl([
      "--socks5-hostname",
      `127.0.0.1:${authed.port}`,
      "--proxy-user",
      "proxyuser:wrong-pw-XYZ",
      `http://localhost:${http.port}/d`,
    ]);
    assert.equal(result.exitCode, 97);
    assert.ok(!JSON.stringify(authed.logs).includes("wrong-pw-XYZ"));
  });

  it("require_auth refuses curl without credentials (05 FF)", async () => {
    const result = await curl(["--socks5", `127.0.0.1:${authed.port}`, `http://127.0.0.1:${http.port}/e`]);
    assert.equal(result.exitCode, 97);
  });
});
