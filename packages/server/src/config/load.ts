import { readFile } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { GatehouseError } from "@gatehouse-proxy/core";
import { configError } from "./config-error.js";
import { substituteEnv } from "./env.js";
import { configSchema } from "./schema.js";
import type { GatehouseConfig } from "./schema.js";
import { codeIssues } from "@gatehouse-proxy/core/engine";
import type { CodedProblem } from "@gatehouse-proxy/core/engine";

export interface LoadedConfig {
  readonly config: GatehouseConfig;
  /** Absolute path of the config file. */
  readonly file: string;
  /** Its folder: relative plugin paths and `_file` options resolve against it. */
  readonly configDir: string;
}

/** A config file's text, as read once (the `workers` primary hands the same text to every worker). */
export interface ConfigSource {
  /** Absolute path of the config file. */
  readonly file: string;
  readonly text: string;
}

/** Reads, parses (YAML or JSON), substitutes `${env:NAME}` and validates the host's part of a config file. */
export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  return loadConfigSource(await readConfigSource(path), env);
}

export async function readConfigSource(path: string): Promise<ConfigSource> {
  const file = resolve(path);
  try {
    return { file, text: await readFile(file, "utf8") };
  } catch (error) {
    throw new GatehouseError(
      "GH_CONFIG_UNREADABLE",
      `${path}: cannot read the config file: ${(error as Error).message}`,
    );
  }
}

/** Parses and validates a config file's text (see loadConfigFile). */
export function loadConfigSource({ file, text }: ConfigSource, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const raw = parseText(text, file);
  return { config: validateConfig(raw, env), file, configDir: dirname(file) };
}

function parseText(text: string, file: string): unknown {
  try {
    if (extname(file).toLowerCase() === ".json") return JSON.parse(text) as unknown;
    return parseYaml(text, { prettyErrors: true }) as unknown;
  } catch (error) {
    throw new GatehouseError(
      "GH_CONFIG_SYNTAX",
      `${file}: not valid ${extname(file) === ".json" ? "JSON" : "YAML"}: ${(error as Error).message}`,
    );
  }
}

/** Validates a parsed config; throws a GatehouseError with every problem. */
export function validateConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  if (raw === null || raw === undefined)
    throw new GatehouseError("GH_CONFIG_EMPTY", "(root): the config file is empty");
  const unset: string[] = [];
  const substituted = substituteEnv(raw, env, unset);
  const problems: CodedProblem[] = unset.map((problem) => ({ code: "GH_CONFIG_ENV_UNSET", problem }));
  const result = configSchema.safeParse(substituted);
  if (!result.success) problems.push(...codeIssues(result.error.issues, ""));
  if (problems.length > 0 || !result.success) throw configError(problems);
  return result.data;
}
