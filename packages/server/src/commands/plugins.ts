import { readdirSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GatehouseError } from "@gatehouse-proxy/core";
import { loadConfigFile } from "../config/load.js";
import { hostVersion } from "../plugins/host-version.js";
import { loadPluginModule } from "../plugins/load-plugin.js";
import { locatePackage } from "../plugins/locate.js";
import { packageInfoOf, readPackageInfo } from "../plugins/package-info.js";
import type { PluginPackageInfo } from "../plugins/package-info.js";
import { SHORT_NAMES } from "../plugins/specifier.js";
import { verifyPlugin } from "../plugins/verify-plugin.js";
import type { PluginVerification } from "../plugins/verify-plugin.js";

/**
 * `plugins verify NAME_OR_PATH [--config FILE]`: NAME_OR_PATH resolves from FILE's folder (as its
 * `use:` values do), or from the current directory without FILE. Without FILE, loads the plugin and checks its
 * definition; with FILE (a gatehouse config), also verifies every provider there that uses the
 * plugin, with its options: schema, creation, init(), health(), close(). Exit 1 on a problem.
 */
export async function pluginsVerifyCommand(
  target: string,
  configFile: string | undefined,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  // With a config, NAME_OR_PATH resolves as a `use:` in that config would (from its folder), the
  // rule check-config and startup follow; without one, from the current directory.
  const loaded = configFile === undefined ? undefined : await loadConfigFile(configFile);
  const base = await verifyPlugin(target, undefined, { configDir: loaded?.configDir ?? process.cwd() });
  const reports: PluginVerification[] = [base];
  if (loaded !== undefined && base.plugin !== undefined) {
    const { config, configDir, file } = loaded;
    const entries = Object.entries(config.auth?.providers ?? {});
    const matching: (typeof entries)[number][] = [];
    for (const entry of entries) {
      if ((await moduleUrl(entry[1].use, configDir)) === base.plugin.url) matching.push(entry);
    }
    if (matching.length === 0) {
      throw new GatehouseError(
        "GH_PLUGIN_NOT_CONFIGURED",
        `${file}: no provider under auth.providers uses ${target} (${base.plugin.url})`,
      );
    }
    reports.length = 0;
    for (const [instanceName, entry] of matching) {
      const { use, ...options } = entry;
      delete options.on_error;
      const configPath = `auth.providers.${instanceName}`;
      reports.push(await verifyPlugin(use, options, { configDir, instanceName, configPath }));
      out.write(`${configPath} (${file}):\n`);
      out.write(formatReport(reports.at(-1)!));
    }
  } else {
    out.write(formatReport(base));
  }
  const failed = reports.filter((report) => !report.ok).length;
  if (failed > 0) throw new GatehouseError("GH_PLUGIN_VERIFY_FAILED", `plugin ${target} failed verification`);
  exitSoonIfHeldOpen();
}

/** `plugins list [--config FILE]`: the plugins FILE would load, or else the installed ones, with versions. */
export async function pluginsListCommand(
  configFile: string | undefined,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  if (configFile === undefined) {
    out.write(formatTable(installedPlugins(process.cwd())));
    return;
  }
  const { config, configDir } = await loadConfigFile(configFile);
  const auth = config.auth;
  const used = new Set(auth?.chain ?? (auth?.provider === undefined ? [] : [auth.provider]));
  const rows: string[][] = [["PROVIDER", "USE", "PLUGIN", "VERSION", "STATUS", "FROM"]];
  const broken: GatehouseError[] = [];
  for (const [instanceName, entry] of Object.entries(auth?.providers ?? {})) {
    const where = `auth.providers.${instanceName}.use`;
    try {
      const { definition, url } = await loadPluginModule(entry.use, configDir, where, hostVersion());
      const info = packageInfoOf(url);
      rows.push([
        instanceName,
        entry.use,
        definition.name,
        info?.version ?? "-",
        used.has(instanceName) ? "in use" : "defined, not used",
        fileURLToPath(url),
      ]);
    } catch (error) {
      if (!(error instanceof GatehouseError)) throw error;
      broken.push(error);
      rows.push([instanceName, entry.use, "-", "-", `error: ${error.code}`, error.message]);
    }
  }
  if (rows.length === 1) out.write("no providers under auth.providers\n");
  else out.write(formatTable(rows));
  const [first] = broken;
  if (first !== undefined) {
    throw new GatehouseError(first.code, `${String(broken.length)} plugin(s) cannot be loaded`);
  }
}

async function moduleUrl(use: string, configDir: string): Promise<string | undefined> {
  try {
    return (await loadPluginModule(use, configDir, "use", hostVersion())).url;
  } catch {
    return undefined;
  }
}

/** Our own short-named plugins that resolve, then packages with the `gatehouse-plugin` keyword in reach. */
function installedPlugins(cwd: string): string[][] {
  const rows: string[][] = [["PLUGIN", "VERSION", "USE", "FROM"]];
  const seen = new Set<string>();
  const add = (info: PluginPackageInfo, use: string): void => {
    const real = realpathSync(info.dir);
    if (info.name === undefined || seen.has(real)) return;
    seen.add(real);
    rows.push([info.name, info.version ?? "-", use, info.dir]);
  };
  for (const short of SHORT_NAMES) {
    const located = locatePackage(`@gatehouse-proxy/auth-${short}`, cwd);
    const info = located.found ? packageInfoOf(located.url) : undefined;
    if (info !== undefined) add(info, short);
  }
  const serverDir = dirname(fileURLToPath(import.meta.url));
  for (const dir of [...ancestors(cwd), ...ancestors(serverDir)]) {
    for (const info of keywordPackages(join(dir, "node_modules"))) add(info, info.name ?? "-");
  }
  return rows;
}

function* ancestors(from: string): Generator<string> {
  for (let dir = from; ; dir = dirname(dir)) {
    yield dir;
    if (dirname(dir) === dir) return;
  }
}

function keywordPackages(nodeModules: string): PluginPackageInfo[] {
  const found: PluginPackageInfo[] = [];
  for (const name of list(nodeModules)) {
    const dirs = name.startsWith("@") ? list(join(nodeModules, name)).map((sub) => join(name, sub)) : [name];
    for (const dir of dirs) {
      const info = readPackageInfo(join(nodeModules, dir));
      if (info?.keywords.includes("gatehouse-plugin")) found.push(info);
    }
  }
  return found;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => !name.startsWith("."));
  } catch {
    return [];
  }
}

function formatReport(report: PluginVerification): string {
  const lines: string[] = [];
  const plugin = report.plugin;
  const version = plugin?.package?.version;
  const origin =
    plugin?.package === undefined ? " (loose file, not a package)" : version === undefined ? "" : ` ${version}`;
  lines.push(
    plugin === undefined ? `${report.target}: FAILED` : `${plugin.name}${origin}: ${report.ok ? "OK" : "FAILED"}`,
  );
  for (const line of report.passed) lines.push(`  ok    ${line}`);
  for (const problem of report.problems) lines.push(`  FAIL  [${problem.code}] ${problem.message}`);
  for (const warning of report.warnings) lines.push(`  warn  ${warning}`);
  return `${lines.join("\n")}\n`;
}

function formatTable(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

/** A plugin that leaves sockets or timers behind after close() must not keep the CLI alive. */
function exitSoonIfHeldOpen(): void {
  setTimeout(() => {
    process.stderr.write("gatehouse: the plugin left handles open after close(); exiting\n");
    process.exit(process.exitCode ?? 0);
  }, 2000).unref();
}
