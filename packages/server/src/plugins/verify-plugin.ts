import "reflect-metadata";
import { fileURLToPath } from "node:url";
import { GatehouseError, silentLogger } from "@gatehouse-proxy/core";
import type { AuthProvider, GatehouseErrorCode, Logger, PluginDefinition } from "@gatehouse-proxy/core";
import { codeIssues } from "@gatehouse-proxy/core/engine";
import { createRootContainer } from "../wiring/root-container.js";
import { createProviders, initProviders } from "../wiring/create-providers.js";
import { hostVersion } from "./host-version.js";
import { loadPluginModule } from "./load-plugin.js";
import { moduleOwnerOf } from "./package-info.js";
import type { ModuleOwner, PluginPackageInfo } from "./package-info.js";

/**
 * Why a plugin failed verification: the codes the loader and startup use (GH_PLUGIN_*,
 * GH_CONFIG_* for a rejected config, GH_PROVIDER_* for what the plugin's own code did).
 */
export type PluginProblemCode = GatehouseErrorCode;

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
    /** The package whose entry the module is; undefined for a loose file (see moduleOwnerOf). */
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
    if (!(error instanceof GatehouseError)) throw error;
    problems.push({ code: error.code, message: error.message.replace(/^plugin: /, "") });
    return result();
  }
  const owner = moduleOwnerOf(url);
  const info = owner.kind === "package" ? owner.info : undefined;
  const plugin = { name: definition.name, gatehouse: definition.gatehouse, url, package: info };
  passed.push(`loads through the production loader (${url})`);
  passed.push(`default export is a plugin definition: ${definition.name}, for Gatehouse ${definition.gatehouse}`);
  passed.push(`supports this host: Gatehouse ${host} satisfies ${definition.gatehouse}`);
  warnings.push(...packagingWarnings(definition, owner, url));

  const schema = definition.configSchema as unknown;
  if (typeof (schema as { safeParse?: unknown } | undefined)?.safeParse !== "function") {
    problems.push({
      code: "GH_PLUGIN_BAD_SCHEMA",
      message: "configSchema is not a zod schema (build it with the z exported by @gatehouse-proxy/core)",
    });
    return result(plugin);
  }
  passed.push("configSchema is a zod schema");
  if (config === undefined) return result(plugin);

  const parsed = definition.configSchema.safeParse(config);
  if (!parsed.success) {
    for (const { code, problem } of codeIssues(parsed.error.issues, options.configPath ?? "config"))
      problems.push({ code, message: problem });
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
    problems.push({ code: codeOf(error, "GH_PROVIDER_CREATE_FAILED"), message: messageOf(error) });
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
    problems.push({ code: codeOf(error, "GH_PROVIDER_INIT_FAILED"), message: messageOf(error) });
    await closeQuietly(provider);
    return;
  }
  if (provider.health !== undefined) {
    try {
      await withDeadline(provider.health(AbortSignal.timeout(timeoutMs)), timeoutMs, "health()");
      passed.push("health() resolved");
    } catch (error) {
      problems.push({ code: "GH_PROVIDER_HEALTH_FAILED", message: `health() failed: ${messageOf(error)}` });
    }
  }
  if (provider.close !== undefined) {
    try {
      await withDeadline(provider.close(), timeoutMs, "close()");
      await withDeadline(provider.close(), timeoutMs, "a second close()");
      passed.push("close() resolved, twice");
    } catch (error) {
      problems.push({ code: "GH_PROVIDER_CLOSE_FAILED", message: `close() failed: ${messageOf(error)}` });
    }
  }
}

function packagingWarnings(definition: PluginDefinition, owner: ModuleOwner, url: string): string[] {
  if (owner.kind === "loose") return [looseFileNote(owner, url)];
  const info = owner.info;
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

function looseFileNote(owner: Extract<ModuleOwner, { kind: "loose" }>, url: string): string {
  const file = url.startsWith("file:") ? fileURLToPath(url) : url;
  const entry = owner.enclosing?.entry;
  const enclosing =
    owner.enclosing === undefined
      ? ""
      : ` (the package.json in ${owner.enclosing.dir} describes another module: ${entry === undefined ? "its entry file does not exist" : `its entry is ${entry}`})`;
  return (
    `the plugin is a loose file, not a package: ${file} has no package name, version or keywords${enclosing}; ` +
    "publish it as a package to share it"
  );
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

function codeOf(error: unknown, otherwise: GatehouseErrorCode): GatehouseErrorCode {
  return error instanceof GatehouseError ? error.code : otherwise;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
