import type { DependencyContainer } from "tsyringe";
import type { z } from "zod";
import type { Logger } from "../log.js";

/**
 * Tokens of the services the host registers in the root container, and of what a plugin
 * registers in its own child container. Symbol.for, so a plugin's copy of @gatehouse-proxy/core
 * and the host's agree.
 */
export const Tokens = {
  /** Logger (pino-compatible), already bound to the provider instance's name. */
  Logger: Symbol.for("gatehouse.Logger"),
  /** `() => number`, milliseconds since the epoch. */
  Clock: Symbol.for("gatehouse.Clock"),
  /** HostResolver: how host names are resolved. */
  Resolver: Symbol.for("gatehouse.Resolver"),
  /** The provider instance's validated config (the plugin schema's output). */
  PluginConfig: Symbol.for("gatehouse.PluginConfig"),
  /** PluginContext of the provider instance. */
  PluginContext: Symbol.for("gatehouse.PluginContext"),
  /** What `register` must register: the instance's AuthProvider. */
  AuthProvider: Symbol.for("gatehouse.AuthProvider"),
} as const;

/** What a provider instance is told about itself; registered under Tokens.PluginContext and passed to `register`. */
export interface PluginContext {
  /** The provider's key under `auth.providers` (e.g. `corp-ldap`). */
  readonly instanceName: string;
  /** The folder of the config file: relative paths in plugin config resolve against it. */
  readonly configDir: string;
  readonly logger: Logger;
}

/** A plugin: what definePlugin() takes and returns, and what a plugin module default-exports. */
export interface PluginDefinition<Schema extends z.ZodType = z.ZodType> {
  /** Package name; shows in logs, metrics and errors. */
  readonly name: string;
  /** The host versions the plugin supports, as a semver range (e.g. `^0.1`). */
  readonly gatehouse: string;
  /** Validates this plugin's options (everything beside `use:`); unknown keys should be errors. */
  readonly configSchema: Schema;
  /**
   * Optional checks that need more than the schema (files relative to the config file, a
   * script that must compile); run by check-config and before a reload, after the schema
   * passed. Returns problems (paths relative to the provider's options), empty when fine.
   */
  readonly validate?: (
    config: z.output<Schema>,
    context: { readonly configDir: string },
  ) => readonly string[] | Promise<readonly string[]>;
  /** Registers the provider (under Tokens.AuthProvider) and its services in the instance's container. */
  register(container: DependencyContainer, config: z.output<Schema>, context: PluginContext): void;
  /**
   * Optional admin capability: a handle on the user store this provider reads, for
   * `gatehouse users`. Only plugins that keep users in a store Gatehouse may write to (Redis,
   * a database) implement it; the host calls it outside the proxy, with the instance's
   * validated config, and closes the store when done.
   */
  userStore?(config: z.output<Schema>, context: PluginContext): Promise<UserStore>;
}

/** A user as `gatehouse users add` creates it; `passwordRecord` comes from `hashPassword`. */
export interface NewUser {
  readonly passwordRecord: string;
  readonly groups?: readonly string[];
  readonly identity?: string;
}

/** One line of `gatehouse users list`. */
export interface UserListing {
  readonly username: string;
  readonly groups: readonly string[];
  readonly disabled: boolean;
}

/**
 * Writes to a provider's user store. Every method rejects with an Error whose message can be
 * shown to the operator as it is (no password or record in it). Usernames are the exact bytes a
 * client sends (RFC 1929: 1..255 bytes of UTF-8).
 */
export interface UserStore {
  /** Creates a user; rejects when the user already exists. */
  add(username: string, user: NewUser): Promise<void>;
  /** Replaces the password record of an existing user (rejects when there is none). */
  setPassword(username: string, passwordRecord: string): Promise<void>;
  /** Marks an existing user disabled: every later login is denied (rejects when there is none). */
  disable(username: string): Promise<void>;
  /** Deletes a user; false when there was none. */
  remove(username: string): Promise<boolean>;
  /** Every user, in no particular order. An admin operation: may scan the whole store. */
  list(): AsyncIterable<UserListing>;
  /** Releases connections. */
  close(): Promise<void>;
}

const kPlugin = Symbol.for("gatehouse.PluginDefinition");

/** What a plugin module default-exports. */
export function definePlugin<Schema extends z.ZodType>(definition: PluginDefinition<Schema>): PluginDefinition<Schema> {
  const problems: string[] = [];
  if (typeof definition.name !== "string" || definition.name === "") problems.push("name must be a non-empty string");
  if (typeof definition.gatehouse !== "string" || definition.gatehouse === "") {
    problems.push("gatehouse must be a semver range of supported host versions");
  }
  if (typeof definition.register !== "function") problems.push("register must be a function");
  if (problems.length > 0) throw new TypeError(`invalid plugin definition: ${problems.join("; ")}`);
  return Object.freeze({ ...definition, [kPlugin]: true });
}

/** Whether `value` was made by definePlugin() (from any copy of @gatehouse-proxy/core); the host's loader uses it. */
export function isPluginDefinition(value: unknown): value is PluginDefinition {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kPlugin] === true;
}
