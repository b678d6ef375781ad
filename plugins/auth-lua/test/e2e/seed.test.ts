import "reflect-metadata";
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProxyServer } from "@gatehouse-proxy/core/engine";
import {
  SEED_AUTHINFO,
  SEED_INLINE,
  curlThrough,
  noSignal,
  request,
  startHttp,
  startPolicy,
  startProxy,
} from "../helpers.js";

const GROUPS = ["proxy-users", "premium-tier"];

for (const [name, source, groups] of [
  ["the seed's inline-database example", SEED_INLINE, []],
  ["the seed's AuthInfo example (examples/policy.lua)", SEED_AUTHINFO, GROUPS],
] as const) {
  describe(`${name}, unmodified, through curl and the real engine`, () => {
    let http: { server: Server; url: string };
    let policy: Awaited<ReturnType<typeof startPolicy>>;
    let proxy: { port: number; server: ProxyServer };

    before(async () => {
      http = await startHttp();
      policy = await startPolicy(source);
      proxy = await startProxy(policy.provider);
    });
    after(async () => {
      await proxy.server.close();
      await policy.close();
      http.server.close();
    });

    it("proxyuser/secretpassword tunnels", async () => {
      const result = await curlThrough(proxy.port, `${http.url}/ok`, "proxyuser:secretpassword");
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, "hello /ok");
    });

    it("a wrong password, an empty password and an unknown user are refused (curl exit 97)", async () => {
      for (const credentials of ["proxyuser:wrongpassword", "proxyuser:", "nobody:secretpassword"]) {
        const result = await curlThrough(proxy.port, `${http.url}/no`, credentials);
        assert.equal(result.exitCode, 97, credentials);
      }
    });

    it(`returns ${groups.length === 0 ? "true (the username as the identity)" : "the identity and the groups"}`, async () => {
      const result = await policy.provider.authenticate(request("proxyuser", "secretpassword"), noSignal);
      if (groups.length === 0) assert.equal(result, true);
      else {
        assert.deepEqual(result, {
          identities: [{ identity: "proxyuser", context: "ProxyAuthRfc1929" }],
          groups: [...groups],
        });
      }
      assert.equal(await policy.provider.authenticate(request("proxyuser", ""), noSignal), false);
      assert.equal(await policy.provider.authenticate(request("proxyuser", "secretpassword\0"), noSignal), false);
      assert.equal(await policy.provider.authenticate(request("nobody", "secretpassword"), noSignal), false);
      assert.doesNotMatch(policy.logger.text(), /secretpassword/);
    });
  });
}
