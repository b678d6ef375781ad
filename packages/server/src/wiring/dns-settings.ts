import { access, constants } from "node:fs/promises";
import { resolve } from "node:path";
import { GatehouseError } from "@gatehouse-proxy/core";
import type { DnsOptions } from "@gatehouse-proxy/core/engine";
import { compact } from "../config/compact.js";
import type { DnsConfig } from "../config/schema.js";

/**
 * The `dns` section as createProxyServer takes it: `hosts_file` resolved against the config
 * file's folder and checked to be readable (so check-config finds a wrong path).
 */
export async function dnsSettings(dns: DnsConfig | undefined, configDir: string): Promise<DnsOptions | undefined> {
  if (dns === undefined) return undefined;
  if (dns.hosts_file === undefined) return compact(dns);
  const hostsFile = resolve(configDir, dns.hosts_file);
  try {
    await access(hostsFile, constants.R_OK);
  } catch (error) {
    throw new GatehouseError(
      "GH_CONFIG_FILE_UNREADABLE",
      `dns.hosts_file: cannot read ${hostsFile}: ${(error as Error).message}`,
    );
  }
  return compact({ ...dns, hosts_file: hostsFile });
}
