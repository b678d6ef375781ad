import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import type { ProxyServer } from "@gatehouse-proxy/core/engine";
import { users, wire } from "../fixtures.js";

interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
}

function curl(args: readonly string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile("curl", ["--silent", "--max-time", "15", ...args], (error, stdout) => {
      resolve({ exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout });
    });
  });
}

describe("auth-static end to end: curl through the real engine", () => {
  let http: Server;
  let proxy: ProxyServer;
  let proxyUrl: string;
  let target: string;

  before(async () => {
    http = createServer((req, res) => res.end(`hello ${req.url ?? ""}`));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    target = `http://localhost:${(http.address() as AddressInfo).port}`;
    const { provider } = wire({
      users: await users({ proxyuser: { password: "secretpassword", groups: ["proxy-users", "premium-tier"] } }),
    });
    await provider.init?.();
    proxy = createProxyServer({
      listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
      auth: { provider, cache: false },
    });
    await proxy.start();
    proxyUrl = `127.0.0.1:${proxy.addresses()[0]!.port}`;
  });
  after(async () => {
    await proxy.close();
    await new Promise((resolve) => http.close(resolve));
  });

  it("the right password tunnels", async () => {
    const result = await curl([
      "--socks5-hostname",
      proxyUrl,
      "--proxy-user",
      "proxyuser:secretpassword",
      `${target}/ok`,
    ]);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, "hello /ok");
  });

  it("a wrong password and an unknown user are refused (curl exit 97)", async () => {
    for (const credentials of ["proxyuser:wrongpassword", "nobody:secretpassword"]) {
      const result = await curl(["--socks5-hostname", proxyUrl, "--proxy-user", credentials, `${target}/no`]);
      assert.equal(result.exitCode, 97, credentials);
    }
  });
});
