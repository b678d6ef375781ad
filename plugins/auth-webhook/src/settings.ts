import { readFile } from "node:fs/promises";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { resolve } from "node:path";
import type { WebhookConfig } from "./config.js";
import { HeadersFileError, parseHeadersFile } from "./headers.js";
import type { ProbeTls } from "./probe.js";
import { parseWebhookSecret } from "./secret.js";
import { WebhookError } from "./webhook-error.js";

/** What the provider needs per request, once the files named in the config are read. */
export interface WebhookSettings {
  readonly url: URL;
  /** `https://host:port/path` — for messages: no query string (it may hold a token). */
  readonly endpoint: string;
  readonly key: Buffer | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly agent: HttpAgent;
  /** The agent's certificate checks, for health()'s connection probe; undefined for http://. */
  readonly tls: ProbeTls | undefined;
}

export async function loadSettings(config: WebhookConfig, configDir: string): Promise<WebhookSettings> {
  const url = new URL(config.url);
  const endpoint = `${url.origin}${url.pathname}`;
  const key = await loadKey(config, configDir);
  const headers = { ...(await loadHeadersFile(config, configDir)), ...config.headers };
  const ca =
    config.tls?.ca_file === undefined ? undefined : await readConfigFile(configDir, config.tls.ca_file, "tls.ca_file");
  const agentOptions = {
    keepAlive: config.keep_alive,
    maxSockets: config.max_sockets,
    // An idle pooled socket is closed after this long (Node's Agent destroys free sockets on timeout).
    timeout: config.idle_timeout,
    scheduling: "lifo" as const,
  };
  const tls: ProbeTls | undefined =
    url.protocol === "https:"
      ? {
          ...(ca === undefined ? {} : { ca }),
          ...(config.tls?.servername === undefined ? {} : { servername: config.tls.servername }),
        }
      : undefined;
  const agent =
    tls === undefined
      ? new HttpAgent(agentOptions)
      : new HttpsAgent({ ...agentOptions, rejectUnauthorized: true, ...tls });
  return { url, endpoint, key, headers, agent, tls };
}

async function loadKey(config: WebhookConfig, configDir: string): Promise<Buffer | undefined> {
  if (config.secret !== undefined) return parseWebhookSecret(config.secret);
  if (config.secret_file === undefined) return undefined;
  const text = (await readConfigFile(configDir, config.secret_file, "secret_file")).toString("utf8");
  try {
    return parseWebhookSecret(text);
  } catch (error) {
    throw new WebhookError("config", `secret_file: ${(error as Error).message}`);
  }
}

async function loadHeadersFile(config: WebhookConfig, configDir: string): Promise<Record<string, string>> {
  if (config.headers_file === undefined) return {};
  const file = resolve(configDir, config.headers_file);
  const headers = parseHeadersFile(
    file,
    (await readConfigFile(configDir, config.headers_file, "headers_file")).toString("utf8"),
  );
  const inline = new Set(Object.keys(config.headers ?? {}).map((name) => name.toLowerCase()));
  const both = Object.keys(headers).filter((name) => inline.has(name.toLowerCase()));
  if (both.length > 0) throw new HeadersFileError(file, [`${both.join(", ")} also set in headers`]);
  return headers;
}

async function readConfigFile(configDir: string, name: string, key: string): Promise<Buffer> {
  const file = resolve(configDir, name);
  try {
    return await readFile(file);
  } catch (error) {
    throw new WebhookError(
      "config",
      `${key} ${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
}
