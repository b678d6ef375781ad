import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "ldapts";
import { selfSignedCertificate } from "./certs.js";
import type { Certificate } from "./certs.js";
import { findOpenLdap } from "./openldap-install.js";
import { canConnect, freePort } from "./ports.js";

export interface SlapdOptions {
  /** `dc=example,dc=com` unless given. */
  readonly suffix?: string;
  /** Adds the test AD schema (sAMAccountName, userPrincipalName, objectClass gatehouseTestAdUser). */
  readonly adSchema?: boolean;
  /** `allow bind_anon_dn`: a DN with an empty password binds anonymously, as Active Directory does. */
  readonly allowUnauthenticatedBind?: boolean;
  /** Log every operation (needed by loggedBinds); off for benchmarks. */
  readonly logOperations?: boolean;
  /** Folder to work in; a fresh temp folder unless given. */
  readonly dir?: string;
}

/** The test schema for an AD-shaped directory; the attribute OIDs are Active Directory's own. */
const AD_SCHEMA = `
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.77.2.1 NAME 'gatehouseTestAdUser' SUP top AUXILIARY
  MAY ( sAMAccountName $ userPrincipalName ) )
`;

/** `{SSHA}` hash as slapd expects: base64(sha1(password + salt) + salt). */
function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha1").update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString("base64")}`;
}

/**
 * A real slapd on 127.0.0.1 (ldap:// and ldaps:// on random ports) in a temp folder, stopped by
 * PID and killed with the test process (setpriv --pdeathsig). Data lives in an mdb database in
 * the folder, so stop() + start() brings the same directory back on the same ports.
 */
export class Slapd {
  readonly rootDn: string;
  readonly rootPassword = `root-${randomBytes(6).toString("hex")}`;
  private child: ChildProcess | undefined;
  /** The last few KiB of slapd's output, for error messages. */
  private log = "";
  private partialLine = "";
  private binds = 0;
  /** Marker searches sent by loggedBinds, and the highest one seen in the log. */
  private markersSent = 0;
  private markersLogged = 0;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly suffix: string,
    readonly port: number,
    readonly tlsPort: number,
    readonly certificate: Certificate,
    private readonly options: SlapdOptions,
  ) {
    this.rootDn = `cn=admin,${suffix}`;
  }

  static async start(options: SlapdOptions = {}): Promise<Slapd> {
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "gatehouse-slapd-")));
    const suffix = options.suffix ?? "dc=example,dc=com";
    const certificate = await selfSignedCertificate(dir, "slapd");
    const slapd = new Slapd(dir, suffix, await freePort(), await freePort(), certificate, options);
    await slapd.writeConfig();
    await slapd.start();
    await slapd.seedBase();
    return slapd;
  }

  get url(): string {
    return `ldap://127.0.0.1:${String(this.port)}`;
  }

  get tlsUrl(): string {
    return `ldaps://127.0.0.1:${String(this.tlsPort)}`;
  }

  get caFile(): string {
    return this.certificate.certFile;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts (or restarts, on the same ports and data) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.running) return;
    const { slapd } = findOpenLdap();
    const urls = `${this.url}/ ${this.tlsUrl}/`;
    const child = spawn(
      "setpriv",
      [
        "--pdeathsig",
        "TERM",
        "--",
        slapd,
        "-f",
        join(this.dir, "slapd.conf"),
        "-h",
        urls,
        "-d",
        this.options.logOperations === false ? "0" : "256",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.child = child;
    child.stderr.setEncoding("utf8").on("data", (data: string) => this.onOutput(data));
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port)) || !(await canConnect(this.tlsPort))) {
      if (exited()) throw new Error(`slapd exited at startup: ${this.log.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`slapd did not listen within 10 s: ${this.log.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGTERM by PID; resolves when the process has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined && this.running) process.kill(child.pid, "SIGTERM");
    await this.exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (this.options.dir === undefined) await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Simple binds slapd has logged up to now (needs logOperations, the default). slapd writes an
   * operation's log line before it replies, but the line reaches us through a pipe, later than the
   * reply did. So this first sends an anonymous search naming a fresh marker and waits until that
   * search is in the log: every bind answered before it has been logged, and counted, by then.
   */
  async loggedBinds(): Promise<number> {
    const marker = (this.markersSent += 1);
    const client = new Client({ url: this.url, connectTimeout: 5000, timeout: 5000 });
    try {
      // The answer does not matter (anonymous reads may be refused); the log line does.
      await client
        .search(this.suffix, { scope: "base", filter: `(description=gatehouse-log-marker-${String(marker)})` })
        .catch(() => undefined);
    } finally {
      await client.unbind();
    }
    const deadline = Date.now() + 5000;
    while (this.markersLogged < marker) {
      if (Date.now() > deadline) throw new Error(`slapd did not log the marker search within 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.binds;
  }

  private onOutput(data: string): void {
    this.log = (this.log + data).slice(-8192);
    const lines = (this.partialLine + data).split("\n");
    this.partialLine = lines.pop() ?? "";
    for (const line of lines) {
      // A bind is logged as "BIND dn=… method=128" when it arrives, and once more ("mech=SIMPLE")
      // if it succeeds; count arrivals.
      if (/ BIND dn=".*" method=/.test(line)) this.binds += 1;
      const marker = /gatehouse-log-marker-([0-9]+)/.exec(line);
      if (marker !== null) this.markersLogged = Math.max(this.markersLogged, Number(marker[1]));
    }
  }

  /** Runs `work` with a client bound as the rootdn. */
  async asAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ url: this.url, connectTimeout: 5000, timeout: 10000 });
    try {
      await client.bind(this.rootDn, this.rootPassword);
      return await work(client);
    } finally {
      await client.unbind();
    }
  }

  private async seedBase(): Promise<void> {
    const top = /^dc=([^,]+)/.exec(this.suffix)?.[1] ?? "example";
    await this.asAdmin(async (client) => {
      await client.add(this.suffix, { objectClass: ["dcObject", "organization"], dc: top, o: top });
    });
  }

  private async writeConfig(): Promise<void> {
    const { schemaDir, moduleDir } = findOpenLdap();
    const dataDir = join(this.dir, "data");
    await mkdir(dataDir, { recursive: true });
    const schemas = ["core", "cosine", "inetorgperson"].map((name) => `include ${join(schemaDir, `${name}.schema`)}`);
    if (this.options.adSchema === true) {
      await writeFile(join(this.dir, "ad.schema"), AD_SCHEMA);
      schemas.push(`include ${join(this.dir, "ad.schema")}`);
    }
    const lines = [
      ...schemas,
      `pidfile ${join(this.dir, "slapd.pid")}`,
      ...(moduleDir === undefined ? [] : [`modulepath ${moduleDir}`, "moduleload back_mdb", "moduleload memberof"]),
      `TLSCertificateFile ${this.certificate.certFile}`,
      `TLSCertificateKeyFile ${this.certificate.keyFile}`,
      ...(this.options.allowUnauthenticatedBind === true ? ["allow bind_anon_dn"] : []),
      "database mdb",
      "maxsize 104857600",
      `suffix "${this.suffix}"`,
      `rootdn "${this.rootDn}"`,
      `rootpw ${sshaHash(this.rootPassword)}`,
      `directory ${dataDir}`,
      "index objectClass eq",
      "index uid,cn,member eq",
      ...(this.options.adSchema === true ? ["index sAMAccountName,userPrincipalName eq"] : []),
      "overlay memberof",
      "access to attrs=userPassword by self write by anonymous auth by * none",
      "access to * by users read by * none",
    ];
    await writeFile(join(this.dir, "slapd.conf"), `${lines.join("\n")}\n`);
  }
}
