import { Semaphore, Tokens, untilAborted } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest, AuthResult, Logger, PluginContext } from "@gatehouse-proxy/core";
import { NoSuchObjectError } from "ldapts";
import type { SearchOptions } from "ldapts";
import { inject, injectable } from "tsyringe";
import type { LdapConfig } from "./config.js";
import { LdapConnection, attributeValues } from "./connection.js";
import type { DirectoryEntry } from "./connection.js";
import { LdapBackendError, credentialsRejected, describe, isResultCodeError, transportErrorCode } from "./errors.js";
import { escapeDnValue, escapeFilterValue, fillTemplate, isSafeNonDnUsername } from "./escape.js";
import { mapGroups, meetsRequiredGroups } from "./group-map.js";
import { BindPool } from "./bind-pool.js";
import { resolveGroups } from "./groups.js";
import type { Search } from "./groups.js";
import { ServerSet, withFailover } from "./servers.js";
import { ServicePool } from "./service-pool.js";
import { resolveSettings } from "./settings.js";
import type { LdapSettings } from "./settings.js";

type Denial = { readonly reason: string; readonly adCode?: string; readonly dn?: string };

/**
 * Authenticates against LDAP / Active Directory: finds the user (search with the service
 * account, or a DN template), binds as the user on a connection of its own, then reads the
 * identity and groups. Bad credentials → false with the reason logged; a broken directory → throw.
 */
@injectable()
export class LdapProvider implements AuthProvider {
  readonly name: string;
  private readonly servers: ServerSet;
  private settingsPromise: Promise<LdapSettings> | undefined;
  private pool: ServicePool | undefined;
  private readonly bindPool: BindPool;
  /**
   * Bounds the user-bind connections a burst of logins opens to the directory (each one may cost
   * a TLS handshake on both sides); later logins wait in arrival order.
   */
  private readonly bindSlots: Semaphore;

  constructor(
    @inject(Tokens.Config) private readonly config: LdapConfig,
    @inject(Tokens.Context) private readonly context: PluginContext,
    @inject(Tokens.Logger) private readonly logger: Logger,
  ) {
    this.name = context.instanceName;
    this.servers = new ServerSet(config.url, config.retry_after);
    this.bindPool = new BindPool(config.bind_pool_size);
    this.bindSlots = new Semaphore(config.max_bind_connections);
  }

  /** Reads secret files and, with a service account, proves its bind: a wrong password stops startup. */
  async init(): Promise<void> {
    const settings = await this.settings();
    const plaintext = this.config.url.filter((url) => url.toLowerCase().startsWith("ldap://"));
    if (!this.config.start_tls && plaintext.length > 0) {
      this.logger.warn(
        { event: "ldap_insecure", servers: plaintext },
        "insecure: true — passwords are sent to the directory without TLS",
      );
    }
    if (settings.service !== undefined) await this.service().acquire();
    this.logger.info(
      {
        event: "ldap_ready",
        servers: this.config.url,
        mode: settings.lookup.mode,
        service_bind: settings.service !== undefined,
      },
      "LDAP provider ready",
    );
  }

  /** Proves the service bind (and the user base) on a live connection; without a service account, reachability. */
  async health(signal: AbortSignal): Promise<void> {
    const settings = await this.settings();
    try {
      if (settings.service !== undefined) {
        const base = settings.lookup.mode === "search" ? settings.lookup.base : "";
        const connection = await untilAborted(this.service().acquire(), signal);
        await connection.search(base, { scope: "base", filter: "(objectClass=*)", attributes: ["1.1"] }, signal);
        return;
      }
      const connection = await withFailover(this.servers, this.logger, signal, async (url) => {
        const opened = await LdapConnection.open(url, settings.transport, signal);
        await opened.bind("", "", signal).catch((error: unknown) => {
          opened.destroy();
          throw error;
        });
        return opened;
      });
      await connection.close();
    } catch (error) {
      throw this.asBackendError(error);
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
    await this.bindPool.close();
  }

  async authenticate({ username, password }: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
    // AD treats a simple bind with an empty password as an anonymous success: never send one.
    if (password === "") return this.deny(username, { reason: "empty_password" });
    // An empty name would fill a DN template with an empty RDN value, which the directory rejects as bad syntax.
    if (username === "") return this.deny(username, { reason: "empty_username" });
    const settings = await this.settings();
    try {
      return await this.authenticateWith(settings, username, password, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw this.asBackendError(error);
    }
  }

  private async authenticateWith(
    settings: LdapSettings,
    username: string,
    password: string,
    signal: AbortSignal,
  ): Promise<AuthResult> {
    const attributes = this.entryAttributes(settings);
    let entry: DirectoryEntry | undefined;
    let bindName: string;
    if (settings.lookup.mode === "search") {
      const found = await this.findUser(settings.lookup, username, attributes, signal);
      if (found === undefined) return this.deny(username, { reason: "user_not_found" });
      entry = found;
      bindName = found.dn;
    } else {
      const value = settings.lookup.isDn ? escapeDnValue(username) : username;
      if (!settings.lookup.isDn && !isSafeNonDnUsername(username)) {
        return this.deny(username, { reason: "username_not_allowed" });
      }
      bindName = fillTemplate(settings.lookup.template, { username: value });
    }

    const release = await this.bindSlots.acquire(signal);
    try {
      return await this.bindAndRead(settings, username, password, bindName, entry, attributes, signal);
    } finally {
      release();
    }
  }

  /** Binds as the user on a connection of its own, then reads the identity and groups. */
  private async bindAndRead(
    settings: LdapSettings,
    username: string,
    password: string,
    bindName: string,
    found: DirectoryEntry | undefined,
    attributes: string[],
    signal: AbortSignal,
  ): Promise<AuthResult> {
    let entry = found;
    const bound = await this.bindAsUser(settings, bindName, password, signal);
    if ("reason" in bound) return this.deny(username, { ...bound, dn: bindName });
    const userConnection = bound.connection;
    try {
      if (settings.lookup.mode === "template") {
        entry = await this.readOwnEntry(settings.lookup, userConnection, bindName, username, attributes, signal);
      }
      // Searches run as the service account when there is one, else as the user just bound.
      const search: Search =
        settings.service === undefined
          ? (base, options) => userConnection.search(base, options, signal, true)
          : (base, options) => this.serviceSearch(base, options, signal);
      const directoryGroups = await resolveGroups(entry, username, settings.groups, search);
      if (!meetsRequiredGroups(directoryGroups, this.config.required_groups)) {
        return this.deny(username, { reason: "not_in_required_group", dn: bindName });
      }
      const identity = this.identityOf(settings, entry, username);
      const groups = mapGroups(directoryGroups, this.config.group_map, this.config.unmapped_groups);
      this.logger.debug(
        { event: "ldap_auth_ok", user: username, dn: entry?.dn ?? bindName, identity, groups },
        "LDAP bind succeeded",
      );
      return { identities: [{ identity, context: "ProxyAuthRfc1929" }], groups };
    } finally {
      this.bindPool.give(userConnection);
    }
  }

  /** search-then-bind: exactly one entry, or none (deny), or an error when ambiguous. */
  private async findUser(
    lookup: { readonly base: string; readonly filter: string },
    username: string,
    attributes: string[],
    signal: AbortSignal,
  ): Promise<DirectoryEntry | undefined> {
    const filter = fillTemplate(lookup.filter, { username: escapeFilterValue(username) });
    const entries = await this.serviceSearch(
      lookup.base,
      { scope: "sub", filter, sizeLimit: 2, timeLimit: this.searchTimeLimit(), attributes },
      signal,
    );
    if (entries.length > 1) {
      throw new LdapBackendError(`user_filter matched more than one entry under ${lookup.base}`, "ambiguous_user");
    }
    return entries[0];
  }

  /** For DN templates the entry is the bind DN itself; otherwise the configured search, run as the user. */
  private async readOwnEntry(
    lookup: Extract<LdapSettings["lookup"], { mode: "template" }>,
    connection: LdapConnection,
    bindName: string,
    username: string,
    attributes: string[],
    signal: AbortSignal,
  ): Promise<DirectoryEntry | undefined> {
    if (lookup.search !== undefined) {
      const filter = fillTemplate(lookup.search.filter, { username: escapeFilterValue(username) });
      const found = await connection.search(
        lookup.search.base,
        { scope: "sub", filter, sizeLimit: 2, timeLimit: this.searchTimeLimit(), attributes },
        signal,
        true,
      );
      if (found.length > 1) {
        throw new LdapBackendError(
          `user_filter matched more than one entry under ${lookup.search.base}`,
          "ambiguous_user",
        );
      }
      return found[0];
    }
    if (!lookup.isDn) return undefined;
    try {
      const found = await connection.search(
        bindName,
        { scope: "base", filter: "(objectClass=*)", attributes },
        signal,
        true,
      );
      return found[0];
    } catch (error) {
      // The bind succeeded, so the DN exists; an ACL hiding it leaves us with the username alone.
      if (error instanceof NoSuchObjectError) return undefined;
      throw error;
    }
  }

  /**
   * A connection of its own for the user's bind, never the service connection: an idle one from
   * the bind pool when there is one, else a new one (with failover).
   */
  private async bindAsUser(
    settings: LdapSettings,
    dn: string,
    password: string,
    signal: AbortSignal,
  ): Promise<{ connection: LdapConnection } | { reason: string; adCode?: string }> {
    const idle = this.bindPool.take();
    if (idle !== undefined) {
      try {
        await idle.bind(dn, password, signal);
        return { connection: idle };
      } catch (error) {
        const rejected = credentialsRejected(error);
        if (rejected !== undefined) {
          this.bindPool.give(idle);
          return rejected;
        }
        idle.destroy();
        if (isResultCodeError(error) || signal.aborted) throw error;
        // The idle connection had gone stale: try afresh below.
      }
    }
    try {
      const connection = await withFailover(this.servers, this.logger, signal, async (url) => {
        const opened = await LdapConnection.open(url, settings.transport, signal);
        try {
          await opened.bind(dn, password, signal);
        } catch (error) {
          if (credentialsRejected(error) === undefined) opened.destroy();
          else this.bindPool.give(opened);
          throw error;
        }
        return opened;
      });
      return { connection };
    } catch (error) {
      const rejected = credentialsRejected(error);
      if (rejected === undefined) throw error;
      return rejected;
    }
  }

  private async serviceSearch(base: string, options: SearchOptions, signal: AbortSignal): Promise<DirectoryEntry[]> {
    const connection = await untilAborted(this.service().acquire(), signal);
    try {
      return await connection.search(base, options, signal);
    } catch (error) {
      if (!connection.alive) connection.destroy();
      throw error;
    }
  }

  private service(): ServicePool {
    this.pool ??= new ServicePool(this.config.pool_size, () => this.connectService());
    return this.pool;
  }

  private async connectService(): Promise<LdapConnection> {
    const settings = await this.settings();
    return withFailover(this.servers, this.logger, undefined, async (url) => {
      const connection = await LdapConnection.open(url, settings.transport);
      try {
        // Anonymous when no bind_dn: an explicit bind makes the connection (and its failure) happen now.
        await connection.bind(settings.service?.dn ?? "", settings.service?.password ?? "", undefined, false);
      } catch (error) {
        connection.destroy();
        if (isResultCodeError(error)) {
          throw new LdapBackendError(
            `service bind as ${settings.service?.dn ?? "anonymous"} refused by ${url}: ${describe(error)}`,
            "service_bind",
            {
              cause: error,
            },
          );
        }
        throw error;
      }
      return connection;
    });
  }

  private identityOf(settings: LdapSettings, entry: DirectoryEntry | undefined, username: string): string {
    if (settings.identity === undefined || entry === undefined) return username;
    const values = attributeValues(entry, settings.identity.attribute);
    const stored = values.find((value) => value.toLowerCase() === username.toLowerCase()) ?? values[0];
    if (stored !== undefined && stored !== "") return stored;
    if (settings.identity.explicit) {
      throw new LdapBackendError(
        `entry ${entry.dn} has no ${settings.identity.attribute} (identity_attribute)`,
        "directory_error",
      );
    }
    return username;
  }

  private entryAttributes(settings: LdapSettings): string[] {
    const names = [settings.groups.memberOfAttribute];
    if (settings.identity !== undefined) names.push(settings.identity.attribute);
    return names;
  }

  private searchTimeLimit(): number {
    return Math.max(1, Math.ceil(this.config.timeout / 1000));
  }

  private deny(username: string, denial: Denial): false {
    this.logger.info(
      {
        event: "ldap_auth_denied",
        user: username,
        reason: denial.reason,
        ...(denial.adCode === undefined ? {} : { ad_code: denial.adCode }),
        ...(denial.dn === undefined ? {} : { dn: denial.dn }),
      },
      "LDAP login denied",
    );
    return false;
  }

  private asBackendError(error: unknown): Error {
    if (error instanceof LdapBackendError) return error;
    if (error instanceof NoSuchObjectError) {
      return new LdapBackendError(`no such object (check user_base / group_base): ${error.message}`, "no_such_base", {
        cause: error,
      });
    }
    if (isResultCodeError(error)) return new LdapBackendError(describe(error), "directory_error", { cause: error });
    return new LdapBackendError(describe(error), transportErrorCode(error), { cause: error });
  }

  private settings(): Promise<LdapSettings> {
    this.settingsPromise ??= resolveSettings(this.config, this.context.configDir);
    this.settingsPromise.catch(() => (this.settingsPromise = undefined));
    return this.settingsPromise;
  }
}
