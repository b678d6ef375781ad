import "reflect-metadata";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import type { AuthEvent, ProxyServer } from "@gatehouse-proxy/core/engine";
import { startGatehouse } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { SERVICE_PASSWORD, addGroup, addPosixUser, seedLayout } from "../helpers/directory.js";
import { Slapd } from "../helpers/slapd.js";
import { wire } from "../helpers/wire.js";

describe("auth-ldap end to end: curl through the proxy", () => {
  let slapd: Slapd;
  let serviceDn: string;
  let http: Awaited<ReturnType<typeof startHttp>>;
  let target: string;

  before(async () => {
    slapd = await Slapd.start();
    serviceDn = await seedLayout(slapd);
    await slapd.asAdmin(async (client) => {
      const alice = await addPosixUser(client, slapd.suffix, { name: "alice", password: "wonder land:7$&" });
      await addPosixUser(client, slapd.suffix, { name: "bob", password: "bob-secret" });
      await addGroup(client, slapd.suffix, "proxy-users", [alice]);
    });
    http = await startHttp();
    target = `http://localhost:${String(http.port)}`;
  });
  after(async () => {
    await http.close();
    await slapd.destroy();
  });

  describe("the in-process engine with the provider", () => {
    let proxy: ProxyServer;
    const events: AuthEvent[] = [];
    let close: (() => Promise<void>) | undefined;

    before(async () => {
      const { provider } = wire({
        url: slapd.tlsUrl,
        tls: { ca_file: slapd.caFile },
        bind_dn: serviceDn,
        bind_password: SERVICE_PASSWORD,
        user_base: `ou=people,${slapd.suffix}`,
        required_groups: ["proxy-users"],
      });
      await provider.init?.();
      close = () => provider.close?.() ?? Promise.resolve();
      proxy = createProxyServer({
        listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
        auth: { provider, cache: false, throttle: false },
        hooks: { onAuthDecision: (event) => events.push(event) },
      });
      await proxy.start();
    });
    after(async () => {
      await proxy.close();
      await close?.();
    });

    it("the directory password tunnels, with the directory's identity and groups", async () => {
      const result = await curlThrough(proxy.addresses()[0]!.port, `${target}/ok`, "alice:wonder land:7$&");
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, "hello /ok");
      const decision = events.at(-1)?.decision;
      assert.ok(decision?.allowed === true);
      assert.deepEqual(decision.info.identities, [{ identity: "alice", context: "ProxyAuthRfc1929" }]);
      assert.deepEqual(decision.info.groups, ["proxy-users"]);
    });

    it("wrong password, unknown user, empty password and a non-member are refused (exit 97)", async () => {
      for (const credentials of ["alice:wrong", "nobody:wonder land:7$&", "alice:", "bob:bob-secret", "*:x"]) {
        const result = await curlThrough(proxy.addresses()[0]!.port, `${target}/no`, credentials);
        assert.equal(result.exitCode, 97, credentials);
      }
    });
  });

  it("the real gatehouse CLI with `use: ldap` (secret from ${env:...}) through curl", async () => {
    const configFile = join(slapd.dir, "gatehouse.yaml");
    await writeFile(
      configFile,
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "    require_auth: true",
        "auth:",
        "  provider: corp-ldap",
        "  providers:",
        "    corp-ldap:",
        "      use: ldap",
        `      url: [${slapd.tlsUrl}]`,
        "      tls: { ca_file: slapd.crt }",
        `      bind_dn: "${serviceDn}"`,
        "      bind_password: ${env:GATEHOUSE_TEST_LDAP_BIND_PASSWORD}",
        `      user_base: "ou=people,${slapd.suffix}"`,
        "      user_filter: (uid={username})",
        "log: { level: debug }",
      ].join("\n"),
    );
    const gatehouse = await startGatehouse(configFile, { GATEHOUSE_TEST_LDAP_BIND_PASSWORD: SERVICE_PASSWORD });
    try {
      const good = await curlThrough(gatehouse.port, `${target}/cli`, "alice:wonder land:7$&");
      assert.equal(good.exitCode, 0);
      assert.equal(good.stdout, "hello /cli");
      const bad = await curlThrough(gatehouse.port, `${target}/cli`, "alice:wrong-password-9");
      assert.equal(bad.exitCode, 97);
    } finally {
      assert.equal(await gatehouse.stop(), 0);
    }
    const stdout = gatehouse.stdout();
    assert.match(stdout, /"event":"ldap_ready"/);
    assert.match(stdout, /"event":"ldap_auth_denied"/);
    assert.doesNotMatch(stdout, /wonder land|wrong-password-9/);
    assert.equal(stdout.includes(SERVICE_PASSWORD), false);
  });
});
