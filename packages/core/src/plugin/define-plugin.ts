import { fileURLToPath } from "node:url";
import type { DependencyContainer } from "tsyringe";
import type { z } from "zod";
import type { AuthProvider } from "../auth/contract.js";
import type { Logger } from "../log.js";

/**
 * What a provider's constructor can ask for with `@inject(Tokens.X)`: the host registers each
 * of them in the provider instance's child container before it resolves the provider.
 * Symbol.for, so the tokens of every copy of @gatehouse-proxy/core agree.
 */
export const Tokens = {
  /** The provider instance's validated config (the plugin schema's output). */
  Config: Symbol.for("gatehouse.Config"),
  /** PluginContext of the provider instance (instance name, config folder, logger). */
  Context: Symbol.for("gatehouse.Context"),
  /** Logger (pino-compatible), already bound to `{ provider, plugin }`. */
  Logger: Symbol.for("gatehouse.Logger"),
  /** `() => number`, milliseconds since the epoch; read time through it so tests can set it. */
  Clock: Symbol.for("gatehouse.Clock"),
  /** HostResolver: resolves host names as the proxy does (its `dns` settings). */
  Resolver: Symbol.for("gatehouse.Resolver"),
  /** The instance's AuthProvider: what the host resolves (a `register` plugin registers it). */
  AuthProvider: Symbol.for("gatehouse.AuthProvider"),
} as const;

/** What a provider instance is told about itself; registered under Tokens.Context and passed to `register`. */
export interface PluginContext {
  /** The provider's key under `auth.providers` (e.g. `corp-ldap`). */
  readonly instanceName: string;
  /** The folder of the config file: relative paths in plugin config resolve against it. */
  readonly configDir: string;
  readonly logger: Logger;
}

/**
 * An `@injectable()` AuthProvider class; every constructor parameter carries `@inject(Tokens.X)`.
 * The host creates one instance per configured provider.
 */
export type ProviderClass = new (...args: never[]) => AuthProvider;

/** What every plugin definition has, whichever way it wires its provider. */
export interface PluginDefinitionBase<Schema extends z.ZodType = z.ZodType> {
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
  /**
   * Optional admin capability: a handle on the user store this provider reads, for
   * `gatehouse users`. Only plugins that keep users in a store Gatehouse may write to (Redis,
   * a database) implement it; the host calls it outside the proxy, with the instance's
   * validated config, and closes the store when done.
   */
  userStore?(config: z.output<Schema>, context: PluginContext): Promise<UserStore>;
}

/** The short form: the host registers the tokens and resolves `provider` in the instance's container. */
export interface ProviderPluginDefinition<Schema extends z.ZodType = z.ZodType> extends PluginDefinitionBase<Schema> {
  readonly provider: ProviderClass;
  readonly register?: never;
}

/**
 * For plugins that wire more than one class: `register` registers them in the instance's
 * container (where the host has already registered the tokens), the AuthProvider under
 * Tokens.AuthProvider.
 */
export interface RegisterPluginDefinition<Schema extends z.ZodType = z.ZodType> extends PluginDefinitionBase<Schema> {
  readonly provider?: never;
  register(container: DependencyContainer, config: z.output<Schema>, context: PluginContext): void;
}

/** A plugin: what definePlugin() takes and returns, and what a plugin module default-exports. */
export type PluginDefinition<Schema extends z.ZodType = z.ZodType> =
  ProviderPluginDefinition<Schema> | RegisterPluginDefinition<Schema>;

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
  /**
   * The identity a login of this user is granted when the store maps it (undefined: the username
   * itself, or no such user). Optional: `gatehouse users disable/del` revokes this identity.
   */
  identityOf?(username: string): Promise<string | undefined>;
  /** Releases connections. */
  close(): Promise<void>;
}

const kPlugin = Symbol.for("gatehouse.PluginDefinition");
const kCoreLocation = Symbol.for("gatehouse.CoreLocation");
/** The folder of this copy of @gatehouse-proxy/core (this file is dist/plugin/define-plugin.js). */
const CORE_LOCATION = fileURLToPath(new URL("../../", import.meta.url));

/** What a plugin module default-exports. */
export function definePlugin<Schema extends z.ZodType>(definition: PluginDefinition<Schema>): PluginDefinition<Schema> {
  const problems: string[] = [];
  if (typeof definition.name !== "string" || definition.name === "") problems.push("name must be a non-empty string");
  if (typeof definition.gatehouse !== "string" || definition.gatehouse === "") {
    problems.push("gatehouse must be a semver range of supported host versions");
  }
  const { provider, register } = definition as { provider?: unknown; register?: unknown };
  if (provider !== undefined && register !== undefined) {
    problems.push("give either provider (an @injectable() class) or register(container, config, context), not both");
  } else if (provider === undefined && register === undefined) {
    problems.push("provider (an @injectable() AuthProvider class) or register(container, config, context) is required");
  } else if (provider !== undefined && typeof provider !== "function") {
    problems.push("provider must be a class (an @injectable() AuthProvider)");
  } else if (register !== undefined && typeof register !== "function") {
    problems.push("register must be a function");
  }
  if (problems.length > 0) throw new TypeError(`invalid plugin definition: ${problems.join("; ")}`);
  return Object.freeze({ ...definition, [kPlugin]: true, [kCoreLocation]: CORE_LOCATION });
}

/**
 * The folder of the @gatehouse-proxy/core copy whose definePlugin() made `definition`
 * (undefined for definitions from before it was recorded); the host compares it with its own.
 */
export function coreLocationOf(definition: PluginDefinition): string | undefined {
  const location = (definition as unknown as Record<symbol, unknown>)[kCoreLocation];
  return typeof location === "string" ? location : undefined;
}

/** Whether `value` was made by definePlugin() (from any copy of @gatehouse-proxy/core); the host's loader uses it. */
export function isPluginDefinition(value: unknown): value is PluginDefinition {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kPlugin] === true;
}
