import "reflect-metadata";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { AuthInfo } from "@gatehouse-proxy/core";
import { SERVICE_PASSWORD, addAdUser, addGroup, seedLayout } from "../helpers/directory.js";
import { Slapd } from "../helpers/slapd.js";
import { lastDenyReason, request, signal, wire } from "../helpers/wire.js";

const DOMAIN = "corp.example.com";

describe("auth-ldap against an AD-shaped directory (sAMAccountName, userPrincipalName, LDAPS)", () => {
  let slapd: Slapd;
  let serviceDn: string;

  before(async () => {
    slapd = await Slapd.start({ suffix: "dc=corp,dc=example,dc=com", adSchema: true });
    serviceDn = await seedLayout(slapd, ["Users", "Groups"]);
    await slapd.asAdmin(async (client) => {
      const alice = await addAdUser(client, slapd.suffix, DOMAIN, {
        name: "asmith",
        cn: "Alice Smith",
        password: "Alice#2026!",
      });
      const bob = await addAdUser(client, slapd.suffix, DOMAIN, {
        name: "bjones",
        cn: "Jones, Bob",
        password: "Bob#2026!",
      });
      const vpn = await addGroup(client, slapd.suffix, "VPN Users", [alice, bob], "Groups");
      await addGroup(client, slapd.suffix, "Domain Proxy", [vpn], "Groups");
    });
  });
  after(async () => slapd.destroy());

  const config = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    url: slapd.tlsUrl,
    tls: { ca_file: slapd.caFile },
    bind_dn: serviceDn,
    bind_password: SERVICE_PASSWORD,
    user_base: `ou=Users,${slapd.suffix}`,
    user_filter: "(&(objectClass=gatehouseTestAdUser)(|(sAMAccountName={username})(userPrincipalName={username})))",
    nested_groups: true,
    timeout: "3s",
    connect_timeout: "2s",
    ...overrides,
  });

  it("search by sAMAccountName or UPN over LDAPS: the identity is sAMAccountName as stored, nested groups", async () => {
    const { provider } = wire(config());
    try {
      await provider.init?.();
      for (const username of ["asmith", "ASmith", `asmith@${DOMAIN}`]) {
        const result = (await provider.authenticate(request(username, "Alice#2026!"), signal())) as AuthInfo;
        assert.deepEqual(result.identities, [{ identity: "asmith", context: "ProxyAuthRfc1929" }], username);
        assert.deepEqual([...(result.groups ?? [])].sort(), ["Domain Proxy", "VPN Users"]);
      }
      // A comma in the entry's CN (cn=Jones\, Bob) survives the DN round trip.
      const bob = (await provider.authenticate(request("bjones", "Bob#2026!"), signal())) as AuthInfo;
      assert.equal(bob.identities[0]?.identity, "bjones");
    } finally {
      await provider.close?.();
    }
  });

  it("identity_attribute: userPrincipalName; group_map to Gatehouse names; wrong password denies", async () => {
    const { provider, logger } = wire(
      config({
        identity_attribute: "userPrincipalName",
        group_map: { "vpn users": "vpn" },
        required_groups: ["Domain Proxy"],
      }),
    );
    try {
      const result = (await provider.authenticate(request("asmith", "Alice#2026!"), signal())) as AuthInfo;
      assert.equal(result.identities[0]?.identity, `asmith@${DOMAIN}`);
      assert.deepEqual([...(result.groups ?? [])].sort(), ["Domain Proxy", "vpn"]);
      assert.equal(await provider.authenticate(request("asmith", "alice#2026!"), signal()), false);
      assert.equal(lastDenyReason(logger), "invalid_credentials");
    } finally {
      await provider.close?.();
    }
  });

  it("UPN / down-level templates refuse names with characters AD forbids, before any bind", async () => {
    for (const template of ["{username}@corp.example.com", "CORP\\{username}"]) {
      const { provider, logger } = wire({
        url: slapd.tlsUrl,
        tls: { ca_file: slapd.caFile },
        user_dn_template: template,
      });
      try {
        const binds = await slapd.loggedBinds();
        for (const username of ["a,b", "a@evil.example", "x\\y", "a=b", "*", "tab\tname"]) {
          assert.equal(await provider.authenticate(request(username, "Alice#2026!"), signal()), false, username);
          assert.equal(lastDenyReason(logger), "username_not_allowed", username);
        }
        assert.equal(await slapd.loggedBinds(), binds);
      } finally {
        await provider.close?.();
      }
    }
  });
});
