import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";

/** Where this machine's OpenLDAP lives: the slapd binary, its schema folder and its module folder. */
export interface OpenLdapInstall {
  readonly slapd: string;
  readonly schemaDir: string;
  /** Undefined when back_mdb and memberof are compiled in (no modules to load). */
  readonly moduleDir: string | undefined;
}

const SLAPD = ["/usr/sbin/slapd", "/usr/local/sbin/slapd", "/usr/libexec/slapd"];
const SCHEMA_DIRS = ["/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema"];
const MODULE_DIRS = ["/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/libexec/openldap"];

/** Files of the Debian package, when dpkg knows it (empty elsewhere). */
function packageFiles(): string[] {
  try {
    return execFileSync("dpkg", ["-L", "slapd"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n");
  } catch {
    return [];
  }
}

let cached: OpenLdapInstall | undefined;

/** Finds slapd, or throws saying how to install it. */
export function findOpenLdap(): OpenLdapInstall {
  if (cached !== undefined) return cached;
  const files = packageFiles();
  const slapd = files.find((file) => file.endsWith("sbin/slapd")) ?? SLAPD.find((file) => existsSync(file));
  const schemaFile = files.find((file) => file.endsWith("/schema/core.schema"));
  const schemaDir =
    (schemaFile === undefined ? undefined : dirname(schemaFile)) ??
    SCHEMA_DIRS.find((dir) => existsSync(join(dir, "core.schema")));
  const moduleFile = files.find((file) => /\/back_mdb\.so$/.test(file));
  const moduleDir =
    (moduleFile === undefined ? undefined : dirname(moduleFile)) ??
    MODULE_DIRS.find((dir) => existsSync(dir) && readdirSync(dir).some((name) => name.startsWith("back_mdb")));
  if (slapd === undefined || schemaDir === undefined) {
    throw new Error(
      "OpenLDAP's slapd (with core/cosine/inetorgperson schemas) is needed for these tests: " +
        "apt-get install -y slapd ldap-utils (looked in dpkg -L slapd, " +
        `${SLAPD.join(", ")} and ${SCHEMA_DIRS.join(", ")})`,
    );
  }
  cached = { slapd, schemaDir, moduleDir };
  return cached;
}
