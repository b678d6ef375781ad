import type { Client } from "ldapts";
import type { Slapd } from "./slapd.js";

export interface SeedUser {
  /** The uid (OpenLDAP) or sAMAccountName (AD) value. */
  readonly name: string;
  readonly password: string;
  /** The RDN value when it differs from `name` (AD: `cn=Alice Smith`). */
  readonly cn?: string;
  readonly mail?: string;
}

export const SERVICE_PASSWORD = "service-pw (with) *special* \\chars$&";

/** The service account, its OU and the people / groups OUs. Returns the service DN. */
export async function seedLayout(slapd: Slapd, ous: readonly string[] = ["people", "groups"]): Promise<string> {
  const serviceDn = `cn=gatehouse,ou=services,${slapd.suffix}`;
  await slapd.asAdmin(async (client) => {
    for (const ou of ["services", ...ous]) {
      await client.add(`ou=${ou},${slapd.suffix}`, { objectClass: "organizationalUnit", ou });
    }
    await client.add(serviceDn, {
      objectClass: "inetOrgPerson",
      cn: "gatehouse",
      sn: "service",
      userPassword: SERVICE_PASSWORD,
    });
  });
  return serviceDn;
}

/** RFC 4514-escapes an RDN value for the seed's own DNs. */
function rdnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (char) => `\\${char}`)
    .replace(/^([ #])/, "\\$1")
    .replace(/ $/, "\\ ");
}

/** inetOrgPerson `uid=<name>,ou=people,...`; returns the DN. */
export async function addPosixUser(client: Client, suffix: string, user: SeedUser): Promise<string> {
  const dn = `uid=${rdnValue(user.name)},ou=people,${suffix}`;
  await client.add(dn, {
    objectClass: "inetOrgPerson",
    uid: user.name,
    cn: user.cn ?? user.name,
    sn: "user",
    userPassword: user.password,
    ...(user.mail === undefined ? {} : { mail: user.mail }),
  });
  return dn;
}

/** AD-shaped `cn=<cn>,cn=Users,...` with sAMAccountName and userPrincipalName; returns the DN. */
export async function addAdUser(client: Client, suffix: string, domain: string, user: SeedUser): Promise<string> {
  const dn = `cn=${rdnValue(user.cn ?? user.name)},ou=Users,${suffix}`;
  await client.add(dn, {
    objectClass: ["inetOrgPerson", "gatehouseTestAdUser"],
    cn: user.cn ?? user.name,
    sn: "user",
    sAMAccountName: user.name,
    userPrincipalName: `${user.name}@${domain}`,
    userPassword: user.password,
  });
  return dn;
}

/** groupOfNames under `ou=<ou>`; members must exist first (the memberof overlay updates them). */
export async function addGroup(
  client: Client,
  suffix: string,
  cn: string,
  members: readonly string[],
  ou = "groups",
): Promise<string> {
  const dn = `cn=${cn},ou=${ou},${suffix}`;
  await client.add(dn, { objectClass: "groupOfNames", cn, member: [...members] });
  return dn;
}
