import "reflect-metadata";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import type { AuthProvider, AuthRequest } from "@gatehouse-proxy/core";
import type { ProxyServer } from "@gatehouse-proxy/core/engine";
import { recordingLogger, wirePlugin } from "@gatehouse-proxy/plugin-testkit";
import type { RecordingLogger } from "@gatehouse-proxy/plugin-testkit";
import plugin from "@gatehouse-proxy/auth-lua";

/** The package folder (dist-test's parent): fixtures and the repository's examples are read from there. */
export const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
export const REPO_ROOT = join(PACKAGE_DIR, "..", "..");
export const CLI = join(REPO_ROOT, "packages", "server", "dist", "cli.js");

/** The seed's first example (inline database in the handler), verbatim. */
export const SEED_INLINE = readFileSync(join(PACKAGE_DIR, "test", "fixtures", "seed-inline-database.lua"), "utf8");
/** The seed's second example (AuthInfo with groups), verbatim: examples/policy.lua. */
export const SEED_AUTHINFO = readFileSync(join(REPO_ROOT, "examples", "policy.lua"), "utf8");

export { recordingLogger };
export type { RecordingLogger };

export interface ScriptDir {
  readonly path: string;
  write(name: string, text: string): string;
  remove(): void;
}

export function scriptDir(): ScriptDir {
  const path = mkdtempSync(join(tmpdir(), "gatehouse-auth-lua-"));
  return {
    path,
    write(name, text) {
      const file = join(path, name);
      writeFileSync(file, text);
      return file;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

export interface Wired {
  readonly provider: AuthProvider;
  readonly logger: RecordingLogger;
}

/** Validates `rawConfig` with the plugin's schema and wires it with the host's code (a child container). */
export function wire(rawConfig: unknown, configDir: string): Wired {
  const logger = recordingLogger();
  const { provider } = wirePlugin(plugin, rawConfig, { instanceName: "policy", configDir, logger });
  return { provider, logger };
}

/** A started provider for `source` (written as policy.lua in a fresh folder). */
export async function startPolicy(
  source: string,
  options: Record<string, unknown> = {},
): Promise<Wired & { readonly dir: ScriptDir; close(): Promise<void> }> {
  const dir = scriptDir();
  dir.write("policy.lua", source);
  // A generous clock by default: tests of the clock set their own call_timeout.
  const wired = wire({ script: "policy.lua", call_timeout: 10_000, ...options }, dir.path);
  try {
    await wired.provider.init?.();
  } catch (error) {
    dir.remove();
    throw error;
  }
  return {
    ...wired,
    dir,
    async close() {
      await wired.provider.close?.();
      dir.remove();
    },
  };
}

export function request(username: string, password: string): AuthRequest {
  return { username, password, connMeta: { peer_address: "127.0.0.1:5000", local_address: "127.0.0.1:1080" } };
}

export const noSignal: AbortSignal = new AbortController().signal;

export interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
}

/** The real curl; never throws on a non-zero exit (97: the proxy refused the credentials). */
export function curl(args: readonly string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile("curl", ["--silent", "--max-time", "15", ...args], (error, stdout) => {
      resolve({ exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout });
    });
  });
}

export function curlThrough(proxyPort: number, url: string, user: string): Promise<CurlResult> {
  return curl(["--socks5-hostname", `127.0.0.1:${String(proxyPort)}`, "--proxy-user", user, url]);
}

export async function startHttp(): Promise<{ readonly server: Server; readonly url: string }> {
  const server = createServer((req, res) => res.end(`hello ${req.url ?? ""}`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://localhost:${String((server.address() as AddressInfo).port)}` };
}

/** The real engine in-process, with `provider` as its only auth provider and no cache. */
export async function startProxy(
  provider: AuthProvider,
): Promise<{ readonly port: number; readonly server: ProxyServer }> {
  const server = createProxyServer({
    listeners: [{ listen: "127.0.0.1:0", require_auth: true }],
    auth: { provider, cache: false, throttle: false },
  });
  await server.start();
  return { server, port: server.addresses()[0]!.port };
}
