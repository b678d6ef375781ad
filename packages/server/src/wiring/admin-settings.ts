import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { GatehouseError } from "@gatehouse-proxy/core";
import type { AdminConfig } from "../config/schema.js";
import { MIN_ADMIN_TOKEN_LENGTH } from "../config/schema.js";

/** The admin listener as the server starts it: the token read from `token_file` when given. */
export interface AdminSettings {
  readonly listen?: string;
  /** The bearer token /api/* requires; undefined: loopback clients only. */
  readonly token?: string;
}

/** `admin` with `token_file` (relative to the config file) read, so check-config finds a bad one. */
export async function adminSettings(admin: AdminConfig, configDir: string): Promise<AdminSettings> {
  const listen = admin.listen === undefined ? {} : { listen: admin.listen };
  if (admin.token_file === undefined) return { ...listen, ...(admin.token !== undefined && { token: admin.token }) };
  const file = resolve(configDir, admin.token_file);
  let token: string;
  try {
    token = (await readFile(file, "utf8")).trim();
  } catch (error) {
    throw new GatehouseError(
      "GH_CONFIG_FILE_UNREADABLE",
      `admin.token_file: cannot read ${file}: ${(error as Error).message}`,
    );
  }
  if (token.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new GatehouseError(
      "GH_CONFIG_INVALID_VALUE",
      `admin.token_file: ${file} must hold one token of at least ${String(MIN_ADMIN_TOKEN_LENGTH)} characters without white space`,
    );
  }
  return { ...listen, token };
}
