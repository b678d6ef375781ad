import { GatehouseError } from "@gatehouse-proxy/core";
import { loadConfigFile } from "../config/load.js";
import { adminSettings } from "../wiring/admin-settings.js";

/** The environment variable the admin token is read from by `gatehouse sessions` and `users disable`. */
export const ADMIN_TOKEN_ENV = "GATEHOUSE_ADMIN_TOKEN";
/** The admin listener's default address (as DEFAULT_ADMIN_LISTEN: the CLI does not load the admin server). */
export const DEFAULT_ADMIN_URL = "http://127.0.0.1:9090";
const REQUEST_TIMEOUT_MS = 10_000;

/** Where the admin API of a running server is, and the token to show it. */
export interface AdminTarget {
  readonly url: string;
  readonly token: string | undefined;
}

/**
 * `--admin URL` (`http://host:port` or `host:port`), else the `admin.listen` of `--config FILE`,
 * else 127.0.0.1:9090. The token: $GATEHOUSE_ADMIN_TOKEN, else the config's `admin.token`/`token_file`.
 */
export async function adminTarget(
  admin: string | undefined,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AdminTarget> {
  const fromEnv = env[ADMIN_TOKEN_ENV] === "" ? undefined : env[ADMIN_TOKEN_ENV];
  let settings: { listen?: string; token?: string } = {};
  if (configFile !== undefined) {
    const { config, configDir } = await loadConfigFile(configFile);
    if (config.admin !== undefined) settings = await adminSettings(config.admin, configDir);
    else if (admin === undefined) {
      throw new GatehouseError("GH_ADMIN_UNREACHABLE", `${configFile} has no admin: section: give --admin URL`);
    }
  }
  const address = admin ?? settings.listen;
  return {
    url: address === undefined ? DEFAULT_ADMIN_URL : normalizeUrl(address),
    token: fromEnv ?? settings.token,
  };
}

function normalizeUrl(address: string): string {
  const url = /^https?:\/\//i.test(address) ? address : `http://${address}`;
  try {
    return new URL(url).origin;
  } catch {
    throw new GatehouseError("GH_CLI_USAGE", `--admin: expected a URL such as http://127.0.0.1:9090, got ${address}`);
  }
}

/** Calls an `/api/*` route; resolves with its JSON body, or throws a GH_ADMIN_* error that says why. */
export async function callAdmin(target: AdminTarget, path: string, body?: Record<string, unknown>): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: {
        ...(target.token !== undefined && { authorization: `Bearer ${target.token}` }),
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new GatehouseError("GH_ADMIN_UNREACHABLE", `admin API at ${target.url}: ${why}`);
  }
  const text = await response.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text) as unknown;
  } catch {
    throw new GatehouseError(
      "GH_ADMIN_FAILED",
      `admin API at ${target.url}${path}: HTTP ${String(response.status)}, not JSON`,
    );
  }
  if (response.ok) return answer;
  const message = (answer as { error?: unknown } | null)?.error;
  const why = `admin API at ${target.url}${path}: HTTP ${String(response.status)}: ${typeof message === "string" ? message : text}`;
  if (response.status === 401) {
    throw new GatehouseError(
      "GH_ADMIN_REFUSED",
      target.token === undefined ? `${why} (set ${ADMIN_TOKEN_ENV})` : `${why} (check ${ADMIN_TOKEN_ENV})`,
    );
  }
  throw new GatehouseError(response.status < 500 ? "GH_ADMIN_REFUSED" : "GH_ADMIN_FAILED", why);
}
