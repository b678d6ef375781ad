import "reflect-metadata";
import { silentLogger } from "@gatehouse-proxy/core";
import type { AuthProvider, Logger, PluginDefinition } from "@gatehouse-proxy/core";
import { formatIssues } from "@gatehouse-proxy/core/engine";
import { createRootContainer } from "../wiring/root-container.js";
import { createProviders, initProviders } from "../wiring/create-providers.js";
import { hostVersion } from "./host-version.js";
import { loadPluginModule } from "./load-plugin.js";
import { packageInfoOf } from "./package-info.js";
import type { PluginPackageInfo } from "./package-info.js";
import { PluginLoadError } from "./plugin-load-error.js";
import type { PluginLoadErrorKind } from "./plugin-load-error.js";

/** Why a plugin failed verification: the loader's four kinds, then what the plugin's own code did. */
export type PluginProblemCode =
  | PluginLoadErrorKind
  | "bad_schema"
  | "config_rejected"
  | "register_failed"
  | "init_failed"
  | "health_failed"
  | "close_failed";

export interface PluginProblem {
  readonly code: PluginProblemCode;
  readonly message: string;
}

export interface PluginVerification {
  /** True when there are no problems (warnings allowed). */
  readonly ok: boolean;
  /** What was verified, as given. */
  readonly target: string;
  /** Set once the module loaded and its default export is a plugin definition. */
  readonly plugin?: {
    readonly name: string;
    readonly gatehouse: string;
    readonly url: string;
    readonly package: PluginPackageInfo | undefined;
  };
  /** The host version the plugin was checked against. */
  readonly host: string;
  /** What passed, in order, one line each. */
  readonly passed: readonly string[];
  readonly problems: readonly PluginProblem[];
  /** Packaging advice that does not stop the plugin from working. */
  readonly warnings: readonly string[];
}

export interface VerifyPluginOptions {
  /** Relative paths and package names resolve from here (default: the current directory). */
  readonly configDir?: string;
  /** The provider instance name the plugin is given (default `verify`). */
  readonly instanceName?: string;
  /**
   * With a config: create the provider through the host's wiring and run init(), health()
   * and close() (default true). False checks the config against the schema only.
   */
  readonly start?: boolean;
  /** Pretend to be this host version (default: this Gatehouse). */
  readonly host?: string;
  /** Receives the provider's log lines (default: discarded). */
  readonly logger?: Logger;
  /** Deadline for each of init(), health() and close() (default 10 s). */
  readonly timeoutMs?: number;
  /** How config problems name the config (default `config`, e.g. `auth.providers.corp`). */
  readonly configPath?: string;
}

const NAME_PATTERN = /^(@[^/]+\/)?gatehouse-plugin-[a-z0-9._-]+$|^@gatehouse-proxy\/auth-[a-z0-9-]+$/;

/**
 * Loads a plugin through the production loader (the same code `gatehouse --config` uses) and
 * reports what is wrong with it: not installed, failed to load, not a plugin (no or a wrong
 * default export), wrong host version, a config schema that is not a zod schema, a config
 * the schema rejects, and — given a config — a provider that cannot be created, started,
 * health-checked or closed. `config` is the provider's options (what sits beside `use:`).
 * Never throws for a broken plugin; the result lists the problems.
 */
export async function verifyPlugin(
  pathOrName: string,
  config?: unknown,
  options: VerifyPluginOptions = {},
): Promise<PluginVerification> {
  const host = options.host ?? hostVersion();
  const passed: string[] = [];
  const problems: PluginProblem[] = [];
  const warnings: string[] = [];
  const result = (plugin?: PluginVerification["plugin"]): PluginVerification => ({
    ok: problems.length === 0,
    target: pathOrName,
    ...(plugin !== undefined && { plugin }),
    host,
    passed,
    problems,
    warnings,
  });

  let definition: PluginDefinition;
  let url: string;
  try {
    ({ definition, url } = await loadPluginModule(pathOrName, options.configDir ?? process.cwd(), "plugin", host));
  } catch (error) {
    if (!(error instanceof PluginLoadError)) throw error;
    problems.push({ code: error.kind, message: error.message.replace(/^plugin: /, "") });
    return result();
  }
  const info = packageInfoOf(url);
  const plugin = { name: definition.name, gatehouse: definition.gatehouse, url, package: info };
  passed.push(`loads through the production loader (${url})`);
  passed.push(`default export is a plugin definition: ${definition.name}, for Gatehouse ${definition.gatehouse}`);
  passed.push(`supports this host: Gatehouse ${host} satisfies ${definition.gatehouse}`);
  warnings.push(...packagingWarnings(definition, info));

  const schema = definition.configSchema as unknown;
  if (typeof (schema as { safeParse?: unknown } | undefined)?.safeParse !== "function") {
    problems.push({
      code: "bad_schema",
      message: "configSchema is not a zod schema (build it with the z exported by @gatehouse-proxy/core)",
    });
    return result(plugin);
  }
  passed.push("configSchema is a zod schema");
  if (config === undefined) return result(plugin);

  const parsed = definition.configSchema.safeParse(config);
  if (!parsed.success) {
    for (const line of formatIssues(parsed.error.issues, options.configPath ?? "config"))
      problems.push({ code: "config_rejected", message: line });
    return result(plugin);
  }
  passed.push("the config is accepted by configSchema");
  if (options.start === false) return result(plugin);

  await exercise(definition, parsed.data, options, passed, problems);
  return result(plugin);
}

/** Creates the provider as the server does, then init(), health() and close() under deadlines. */
async function exercise(
  definition: PluginDefinition,
  config: unknown,
  options: VerifyPluginOptions,
  passed: string[],
  problems: PluginProblem[],
): Promise<void> {
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const plan = { instanceName: options.instanceName ?? "verify", plugin: definition, onError: "deny" as const, config };
  let provider: AuthProvider;
  try {
    const [instance] = createProviders(
      createRootContainer({ logger }),
      [plan],
      options.configDir ?? process.cwd(),
      logger,
    );
    provider = instance!.provider;
  } catch (error) {
    problems.push({ code: "register_failed", message: messageOf(error) });
    return;
  }
  passed.push(
    definition.provider !== undefined
      ? `the provider class ${definition.provider.name} is resolved with its injected tokens`
      : "register() provides an AuthProvider under Tokens.AuthProvider",
  );
  try {
    await withDeadline(
      initProviders(
        [{ instanceName: plan.instanceName, pluginName: definition.name, onError: "deny", provider }],
        logger,
      ),
      timeoutMs,
      "init()",
    );
    passed.push(provider.init === undefined ? "no init()" : "init() resolved");
  } catch (error) {
    problems.push({ code: "init_failed", message: messageOf(error) });
    await closeQuietly(provider);
    return;
  }
  if (provider.health !== undefined) {
    try {
      await withDeadline(provider.health(AbortSignal.timeout(timeoutMs)), timeoutMs, "health()");
      passed.push("health() resolved");
    } catch (error) {
      problems.push({ code: "health_failed", message: `health() failed: ${messageOf(error)}` });
    }
  }
  if (provider.close !== undefined) {
    try {
      await withDeadline(provider.close(), timeoutMs, "close()");
      await withDeadline(provider.close(), timeoutMs, "a second close()");
      passed.push("close() resolved, twice");
    } catch (error) {
      problems.push({ code: "close_failed", message: `close() failed: ${messageOf(error)}` });
    }
  }
}

function packagingWarnings(definition: PluginDefinition, info: PluginPackageInfo | undefined): string[] {
  if (info === undefined) return ["the plugin is a loose file, not a package: publish it as a package to share it"];
  const warnings: string[] = [];
  const name = info.name ?? "(unnamed)";
  if (info.name !== undefined && !NAME_PATTERN.test(info.name)) {
    warnings.push(
      `package name ${name}: third-party plugins are named gatehouse-plugin-* or @scope/gatehouse-plugin-*`,
    );
  }
  if (info.name !== undefined && definition.name !== info.name) {
    warnings.push(`definePlugin name ${definition.name} differs from the package name ${name}`);
  }
  if (!info.keywords.includes("gatehouse-plugin") && !name.startsWith("@gatehouse-proxy/")) {
    warnings.push(`package.json has no "gatehouse-plugin" keyword (how users find plugins on npm)`);
  }
  if (info.dependencies["@gatehouse-proxy/core"] !== undefined) {
    warnings.push(
      "@gatehouse-proxy/core is a dependency: make it a peerDependency so the plugin shares the host's copy",
    );
  } else if (info.peerDependencies["@gatehouse-proxy/core"] === undefined) {
    warnings.push("package.json has no peerDependency on @gatehouse-proxy/core");
  }
  return warnings;
}

async function closeQuietly(provider: AuthProvider): Promise<void> {
  try {
    await provider.close?.();
  } catch {
    // the init failure is what gets reported
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${String(ms)} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
