import { resolve } from "node:path";
import { Tokens, verifyAgainstDummy, verifyPassword } from "@gatehouse-proxy/core";
import type { AuthInfo, AuthProvider, AuthRequest, AuthResult, Logger, PluginContext } from "@gatehouse-proxy/core";
import { inject, injectable } from "tsyringe";
import type { StaticConfig } from "./config.js";
import { toUserTable } from "./user-table.js";
import type { UserTable } from "./user-table.js";
import { loadUsersFile } from "./users-file.js";

/**
 * Users and password records from the config (`users`) or a YAML/JSON file (`users_file`,
 * read by init(): at startup, and in the new instance a SIGHUP reload builds). An unknown user costs the same KDF work as a
 * wrong password; a record that cannot be verified throws (the pipeline logs it and denies).
 */
@injectable()
export class StaticProvider implements AuthProvider {
  readonly name: string;
  private readonly usersFile: string | undefined;
  private users: UserTable;

  constructor(
    @inject(Tokens.Config) config: StaticConfig,
    @inject(Tokens.Context) context: PluginContext,
    @inject(Tokens.Logger) private readonly logger: Logger,
  ) {
    this.name = context.instanceName;
    this.usersFile = config.users_file === undefined ? undefined : resolve(context.configDir, config.users_file);
    this.users = toUserTable(config.users ?? {});
  }

  async init(): Promise<void> {
    if (this.usersFile !== undefined) await this.readUsersFile();
  }

  /** Reads users_file; throws (naming the file) when it cannot be read or is invalid. */
  private async readUsersFile(): Promise<void> {
    if (this.usersFile === undefined) return;
    this.users = await loadUsersFile(this.usersFile);
    this.logger.info({ users_file: this.usersFile, users: this.users.size }, "users loaded");
  }

  async authenticate({ username, password }: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
    const entry = this.users.get(username);
    if (entry === undefined) return verifyAgainstDummy(password, { signal });
    if (!(await verifyPassword(password, entry.password, { signal }))) return false;
    const info: AuthInfo = { identities: [{ identity: entry.identity ?? username, context: "ProxyAuthRfc1929" }] };
    return entry.groups === undefined ? info : { ...info, groups: entry.groups };
  }
}
