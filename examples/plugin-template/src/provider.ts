import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Tokens, verifyAgainstDummy, verifyPassword } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest, AuthResult, Logger, PluginContext } from "@gatehouse-proxy/core";
import { inject, injectable } from "tsyringe";
import type { ExampleConfig } from "./config.js";
import { readUsersFile } from "./users-file.js";
import type { UserLine } from "./users-file.js";

/**
 * Checks usernames and passwords against a users file, re-read when it changes. Three
 * outcomes: an AuthInfo for a match, `false` for bad credentials, a thrown error when the
 * file cannot be used (the host logs it as a backend error and denies).
 */
@injectable()
export class ExampleProvider implements AuthProvider {
  readonly name: string;
  private readonly file: string;
  private readonly defaultGroups: readonly string[];
  private users: ReadonlyMap<string, UserLine> = new Map();
  private loadedMtimeMs = -1;

  constructor(
    @inject(Tokens.Config) config: ExampleConfig,
    @inject(Tokens.Context) context: PluginContext,
    @inject(Tokens.Logger) private readonly logger: Logger,
  ) {
    this.name = context.instanceName;
    // Relative paths in plugin config resolve against the config file's folder.
    this.file = resolve(context.configDir, config.file);
    this.defaultGroups = config.default_groups ?? [];
  }

  /** Loads the file; a missing or bad file stops the server from starting. */
  async init(): Promise<void> {
    await this.refresh();
    this.logger.info({ file: this.file, users: this.users.size }, "users file loaded");
  }

  async authenticate({ username, password }: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
    await this.refresh();
    const user = this.users.get(username);
    // An unknown user costs the same KDF work as a wrong password, so timing does not tell them apart.
    // The signal aborts the wait for a KDF slot when the host's deadline passes or the client leaves.
    if (user === undefined) return verifyAgainstDummy(password, { signal });
    if (!(await verifyPassword(password, user.record, { signal }))) return false;
    return {
      identities: [{ identity: username, context: "ProxyAuthRfc1929" }],
      groups: [...new Set([...this.defaultGroups, ...user.groups])],
    };
  }

  /** Throws when the file is gone: /readyz turns unready. */
  async health(): Promise<void> {
    await stat(this.file);
  }

  /** Nothing to release here; a provider holding connections closes them, and a second call is a no-op. */
  async close(): Promise<void> {}

  private async refresh(): Promise<void> {
    const { mtimeMs } = await stat(this.file).catch((error: unknown) => {
      throw new Error(`users file ${this.file}: ${(error as NodeJS.ErrnoException).code ?? "cannot stat"}`);
    });
    if (mtimeMs === this.loadedMtimeMs) return;
    this.users = await readUsersFile(this.file);
    this.loadedMtimeMs = mtimeMs;
  }
}
