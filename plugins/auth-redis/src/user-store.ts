import type { NewUser, UserListing, UserStore } from "@gatehouse-proxy/core";
import { Cluster } from "ioredis";
import type { Redis } from "ioredis";
import { closeRedis } from "./client.js";
import type { RedisClient } from "./client.js";
import { decodeUsername, userKey, userKeyPattern } from "./key.js";
import { UserRecordError, parseGroups } from "./record.js";

/**
 * `gatehouse users` against the Redis a provider reads: the same key encoding, hashes with
 * `password` (a record from hashPassword), `groups` (a JSON array), `identity` and `disabled`.
 */
export class RedisUserStore implements UserStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {}

  async add(username: string, user: NewUser): Promise<void> {
    const key = userKey(this.prefix, username);
    // HSETNX on `password` decides atomically whether the user is new.
    if ((await this.client.hsetnx(key, "password", user.passwordRecord)) === 0) {
      throw new Error(`user ${JSON.stringify(username)} already exists`);
    }
    const fields: Record<string, string> = {};
    if (user.groups !== undefined && user.groups.length > 0) fields["groups"] = JSON.stringify(user.groups);
    if (user.identity !== undefined) fields["identity"] = user.identity;
    if (Object.keys(fields).length > 0) await this.client.hset(key, fields);
  }

  async setPassword(username: string, passwordRecord: string): Promise<void> {
    await this.updateExisting(username, { password: passwordRecord });
  }

  async disable(username: string): Promise<void> {
    await this.updateExisting(username, { disabled: "true" });
  }

  async remove(username: string): Promise<boolean> {
    return (await this.client.del(userKey(this.prefix, username))) > 0;
  }

  async identityOf(username: string): Promise<string | undefined> {
    return (await this.client.hget(userKey(this.prefix, username), "identity")) ?? undefined;
  }

  async *list(): AsyncIterable<UserListing> {
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes("master") : [this.client];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", userKeyPattern(this.prefix), "COUNT", 200);
        cursor = next;
        for (const key of keys) {
          const username = decodeUsername(key.slice(this.prefix.length));
          if (username === undefined) continue;
          const [groups, disabled] = await this.client.hmget(key, "groups", "disabled");
          yield { username, groups: safeGroups(username, groups ?? null), disabled: isDisabled(disabled ?? null) };
        }
      } while (cursor !== "0");
    }
  }

  async close(): Promise<void> {
    await closeRedis(this.client);
  }

  /** HSET only when the user's hash exists, atomically (a Lua script on one key works in a Cluster too). */
  private async updateExisting(username: string, fields: Record<string, string>): Promise<void> {
    const args = Object.entries(fields).flat();
    const updated = await this.client.eval(
      "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], unpack(ARGV)) return 1 end return 0",
      1,
      userKey(this.prefix, username),
      ...args,
    );
    if (updated !== 1) throw new Error(`no user ${JSON.stringify(username)}`);
  }
}

function safeGroups(username: string, text: string | null): readonly string[] {
  try {
    return parseGroups(username, text ?? undefined) ?? [];
  } catch (error) {
    if (error instanceof UserRecordError) return [`(unreadable groups field)`];
    throw error;
  }
}

function isDisabled(text: string | null): boolean {
  return text !== null && ["1", "true", "yes"].includes(text.trim().toLowerCase());
}
