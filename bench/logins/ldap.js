// Login benchmark module for @gatehouse-proxy/auth-ldap: a real slapd (mdb, memberof overlay) started
// by the plugin's test harness (build it first: npx tsc -b plugins/auth-ldap/test), 200 users in
// one group, search-then-bind over ldaps:// with the harness's self-signed CA.
import { Slapd } from "../../plugins/auth-ldap/dist-test/helpers/slapd.js";
import {
  SERVICE_PASSWORD,
  addGroup,
  addPosixUser,
  seedLayout,
} from "../../plugins/auth-ldap/dist-test/helpers/directory.js";

const USERS = 200;

export async function setup() {
  const slapd = await Slapd.start();
  try {
    const serviceDn = await seedLayout(slapd);
    const users = Array.from({ length: USERS }, (_, i) => ({ username: `user${i}`, password: `pw-${i}-bench` }));
    await slapd.asAdmin(async (client) => {
      const dns = [];
      for (const { username, password } of users) {
        dns.push(await addPosixUser(client, slapd.suffix, { name: username, password }));
      }
      await addGroup(client, slapd.suffix, "bench", dns);
    });
    const bindsAtStart = slapd.countBinds();
    return {
      provider: {
        use: "ldap",
        ...(process.env.GATEHOUSE_BENCH_LDAP_PLAIN === "1"
          ? { url: slapd.url, insecure: true }
          : { url: slapd.tlsUrl, tls: { ca_file: slapd.caFile } }),
        bind_dn: serviceDn,
        bind_password: SERVICE_PASSWORD,
        user_base: `ou=people,${slapd.suffix}`,
      },
      users,
      note: "slapd 2.5 mdb over ldaps://, search-then-bind, memberOf groups, user binds on reused connections (bind_pool_size 8)",
      // Every login costs one user bind (plus a rare service re-bind): slapd's own log counts them.
      backendCalls: async () => slapd.countBinds() - bindsAtStart,
      close: () => slapd.destroy(),
    };
  } catch (error) {
    await slapd.destroy();
    throw error;
  }
}
