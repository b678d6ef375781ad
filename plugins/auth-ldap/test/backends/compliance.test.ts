import "reflect-metadata";
import { providerComplianceSuite, providerFromPlugin, recordingLogger } from "@gatehouse-proxy/plugin-testkit";
import type { ProviderFactory } from "@gatehouse-proxy/plugin-testkit";
import { after, before, describe, it } from "node:test";
import plugin from "@gatehouse-proxy/auth-ldap";
import { startBlackhole } from "../helpers/blackhole.js";
import { SERVICE_PASSWORD, addAdUser, addGroup, addPosixUser, seedLayout } from "../helpers/directory.js";
import { freePort } from "../helpers/ports.js";
import { Slapd } from "../helpers/slapd.js";

const PASSWORD = "alice-compliance-secret";
const WRONG_PASSWORD = "Alice-compliance-secret";

/**
 * One real slapd (alice ∈ vpn, staff), a closed port (the directory is down) and a blackhole
 * (a directory that accepts the connection and never answers), shared by both suites below.
 */
let slapd: Slapd;
let serviceDn: string;
let closedPort: number;
let blackhole: Awaited<ReturnType<typeof startBlackhole>>;

before(async () => {
  slapd = await Slapd.start({ logOperations: false });
  serviceDn = await seedLayout(slapd);
  await slapd.asAdmin(async (client) => {
    const alice = await addPosixUser(client, slapd.suffix, { name: "alice", password: PASSWORD });
    await addGroup(client, slapd.suffix, "vpn", [alice]);
    await addGroup(client, slapd.suffix, "staff", [alice]);
  });
  // Nothing listens here: freePort() closed its listener before returning.
  closedPort = await freePort();
  blackhole = await startBlackhole();
});
after(async () => {
  await blackhole.close();
  await slapd.destroy();
});

const timeouts = { insecure: true, timeout: "3s", connect_timeout: "2s" } as const;
const at = (port: number): string => `ldap://127.0.0.1:${String(port)}`;

/** search-then-bind with the service account (the usual deployment). */
const searchConfig = (url: string): Record<string, unknown> => ({
  ...timeouts,
  url,
  bind_dn: serviceDn,
  bind_password: SERVICE_PASSWORD,
  user_base: `ou=people,${slapd.suffix}`,
});

/** DN template, no service account: init() needs no directory, so every check reaches authenticate(). */
const templateConfig = (url: string): Record<string, unknown> => ({
  ...timeouts,
  url,
  user_dn_template: `uid={username},ou=people,${slapd.suffix}`,
});

const fixtures = {
  valid: { username: "alice", password: PASSWORD, expect: { identity: "alice", groups: ["staff", "vpn"] } },
  wrongPassword: WRONG_PASSWORD,
  unknownUser: "mallory",
} as const;

/** The config functions read `slapd` lazily: the factories run after `before`. */
function factory(config: () => Record<string, unknown>, logger: ReturnType<typeof recordingLogger>): ProviderFactory {
  return () => providerFromPlugin(plugin, config(), { logger })();
}

describe("auth-ldap (search-then-bind, service account) passes the provider compliance suite", () => {
  const logger = recordingLogger();
  providerComplianceSuite(
    it,
    factory(() => searchConfig(slapd.url), logger),
    {
      ...fixtures,
      // The directory is down: init() cannot bind the service account and says so (without a password).
      brokenFactory: factory(() => searchConfig(at(closedPort)), logger),
      // No service bind at init (template mode), so the user's bind is what hangs and is aborted.
      stalledFactory: factory(() => templateConfig(at(blackhole.port)), logger),
      logs: () => logger.lines,
    },
  );
});

describe("auth-ldap (DN template, no service account) passes the provider compliance suite", () => {
  const logger = recordingLogger();
  providerComplianceSuite(
    it,
    factory(() => templateConfig(slapd.url), logger),
    {
      ...fixtures,
      // init() succeeds without contacting the directory, so authenticate() and health() meet the closed port.
      brokenFactory: factory(() => templateConfig(at(closedPort)), logger),
      stalledFactory: factory(() => templateConfig(at(blackhole.port)), logger),
      logs: () => logger.lines,
    },
  );
});

describe("auth-ldap (AD-shaped directory over LDAPS, nested groups) passes the provider compliance suite", () => {
  const domain = "corp.example.com";
  const adPassword = "Alice#2026-compliance";
  const logger = recordingLogger();
  let ad: Slapd;
  let adServiceDn: string;

  before(async () => {
    // allow bind_anon_dn: a DN with an empty password binds (anonymously), as AD does, so an
    // empty password that reached the directory would not be refused there.
    ad = await Slapd.start({
      suffix: "dc=corp,dc=example,dc=com",
      adSchema: true,
      allowUnauthenticatedBind: true,
      logOperations: false,
    });
    adServiceDn = await seedLayout(ad, ["Users", "Groups"]);
    await ad.asAdmin(async (client) => {
      const alice = await addAdUser(client, ad.suffix, domain, {
        name: "asmith",
        cn: "Smith, Alice",
        password: adPassword,
      });
      const vpn = await addGroup(client, ad.suffix, "VPN Users", [alice], "Groups");
      await addGroup(client, ad.suffix, "Domain Proxy", [vpn], "Groups");
    });
  });
  after(async () => ad.destroy());

  const adConfig = (url: string): Record<string, unknown> => ({
    url,
    tls: { ca_file: ad.caFile },
    bind_dn: adServiceDn,
    bind_password: SERVICE_PASSWORD,
    user_base: `ou=Users,${ad.suffix}`,
    user_filter: "(&(objectClass=gatehouseTestAdUser)(|(sAMAccountName={username})(userPrincipalName={username})))",
    nested_groups: true,
    timeout: "3s",
    connect_timeout: "2s",
  });
  const ldaps = (port: number): string => `ldaps://127.0.0.1:${String(port)}`;

  providerComplianceSuite(
    it,
    factory(() => adConfig(ad.tlsUrl), logger),
    {
      valid: {
        username: "asmith",
        password: adPassword,
        expect: { identity: "asmith", groups: ["Domain Proxy", "VPN Users"] },
      },
      wrongPassword: "alice#2026-compliance",
      unknownUser: "bjones",
      // A directory that accepts TCP and never answers the TLS handshake: init() fails within connect_timeout.
      brokenFactory: factory(() => adConfig(ldaps(blackhole.port)), logger),
      // The same hung directory for a DN-template login, so the call itself hangs in the handshake and is aborted.
      stalledFactory: factory(
        () => ({
          ...adConfig(ldaps(blackhole.port)),
          bind_dn: undefined,
          bind_password: undefined,
          user_filter: undefined,
          user_dn_template: `cn={username},ou=Users,${ad.suffix}`,
        }),
        logger,
      ),
      logs: () => logger.lines,
    },
  );
});
