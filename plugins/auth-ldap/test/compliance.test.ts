import "reflect-metadata";
import { providerComplianceSuite, providerFromPlugin, recordingLogger } from "@gatehouse/plugin-testkit";
import type { ProviderFactory } from "@gatehouse/plugin-testkit";
import { after, before, describe, it } from "node:test";
import plugin from "@gatehouse/auth-ldap";
import { startBlackhole } from "./helpers/blackhole.js";
import { SERVICE_PASSWORD, addGroup, addPosixUser, seedLayout } from "./helpers/directory.js";
import { freePort } from "./helpers/ports.js";
import { Slapd } from "./helpers/slapd.js";

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
