import type { DependencyContainer } from "tsyringe";
import type { z } from "zod";
import type { Logger } from "../log.js";

/**
 * Tokens of the services the host registers in the root container, and of what a plugin
 * registers in its own child container. Symbol.for, so a plugin's copy of @gatehouse/core
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
  /** Registers the provider (under Tokens.AuthProvider) and its services in the instance's container. */
  register(container: DependencyContainer, config: z.output<Schema>, context: PluginContext): void;
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

/** Whether `value` was made by definePlugin() (from any copy of @gatehouse/core); the host's loader uses it. */
export function isPluginDefinition(value: unknown): value is PluginDefinition {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kPlugin] === true;
}
