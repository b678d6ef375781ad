import { Tokens, untilAborted, verifyAgainstDummy, verifyPassword } from "@gatehouse-proxy/core";
import type { AuthInfo, AuthProvider, AuthRequest, AuthResult, Logger, PluginContext } from "@gatehouse-proxy/core";
import { inject, injectable } from "tsyringe";
import { closeRedis, connectRedis, createRedisClient } from "./client.js";
import type { RedisClient } from "./client.js";
import type { RedisConfig } from "./config.js";
import { userKey } from "./key.js";
import { UserRecordError, parseUserRecord } from "./record.js";

/** A Redis command that failed (down, timed out, WRONGTYPE, NOAUTH...): the attempt is an error, not a deny. */
export class RedisLookupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisLookupError";
  }
}

/**
 * Users as Redis hashes (`key_prefix` + encoded username → password, groups, identity,
 * disabled), read with one HGETALL per attempt. An unknown or disabled user costs the same KDF
 * work as a wrong password and is `false`. A failed command or an unusable record throws: the
 * pipeline denies, logs and counts it as an error and never caches it.
 */
@injectable()
export class RedisProvider implements AuthProvider {
  readonly name: string;
  private client: RedisClient | undefined;

  constructor(
    @inject(Tokens.Config) private readonly config: RedisConfig,
    @inject(Tokens.Context) private readonly context: PluginContext,
    @inject(Tokens.Logger) private readonly logger: Logger,
  ) {
    this.name = context.instanceName;
  }

  async init(): Promise<void> {
    const client = await createRedisClient(this.config, this.context.configDir, this.logger);
    await connectRedis(client, this.config.connect_timeout + this.config.command_timeout);
    this.client = client;
  }

  async authenticate({ username, password }: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
    const client = this.client;
    if (client === undefined) throw new RedisLookupError("the Redis provider was not started (init)");
    let fields: Record<string, string>;
    try {
      fields = await untilAborted(client.hgetall(userKey(this.config.key_prefix, username)), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new RedisLookupError(`Redis HGETALL failed: ${(error as Error).message}`, { cause: error });
    }
    if (Object.keys(fields).length === 0) return verifyAgainstDummy(password, { signal });
    let record;
    try {
      record = parseUserRecord(username, fields);
    } catch (error) {
      if (error instanceof UserRecordError) {
        this.logger.error({ event: "user_record_unusable", user: username, problem: error.problem }, error.message);
      }
      throw error;
    }
    if (record.disabled) {
      await verifyAgainstDummy(password, { signal });
      return false;
    }
    if (!(await verifyPassword(password, record.passwordText, { signal }))) return false;
    const info: AuthInfo = { identities: [{ identity: record.identity ?? username, context: "ProxyAuthRfc1929" }] };
    return record.groups === undefined ? info : { ...info, groups: record.groups };
  }

  async health(signal: AbortSignal): Promise<void> {
    if (this.client === undefined) throw new RedisLookupError("the Redis provider was not started (init)");
    await untilAborted(this.client.ping(), signal);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await closeRedis(client);
  }
}
