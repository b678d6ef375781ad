import "reflect-metadata";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest } from "@gatehouse-proxy/core";
import { recordingLogger, wirePlugin } from "@gatehouse-proxy/plugin-testkit";
import type { DependencyContainer } from "tsyringe";
import plugin from "@gatehouse-proxy/auth-static";

/** Cheap scrypt parameters for tests that are not about KDF cost. */
export const FAST = { ln: 10, r: 8, p: 1 } as const;

export function request(username: string, password: string): AuthRequest {
  return { username, password, connMeta: { peer_address: "127.0.0.1:5000", local_address: "127.0.0.1:1080" } };
}

export const noSignal: AbortSignal = new AbortController().signal;

export { recordingLogger };

export interface Wired {
  readonly provider: AuthProvider;
  readonly logger: ReturnType<typeof recordingLogger>;
  readonly container: DependencyContainer;
}

/** Validates `rawConfig` with the plugin's schema and wires it with the host's code (a child container). */
export function wire(rawConfig: unknown, configDir = "/nonexistent"): Wired {
  const logger = recordingLogger();
  const { provider, container } = wirePlugin(plugin, rawConfig, { instanceName: "local-users", configDir, logger });
  return { provider: provider, logger, container };
}

export async function users(entries: Record<string, { password: string; groups?: string[]; identity?: string }>) {
  const result: Record<string, { password: string; groups?: string[]; identity?: string }> = {};
  for (const [name, entry] of Object.entries(entries)) {
    result[name] = { ...entry, password: await hashPassword(entry.password, FAST) };
  }
  return result;
}

export interface TempDir {
  readonly path: string;
  write(name: string, text: string): Promise<string>;
  remove(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), "gatehouse-auth-static-"));
  return {
    path,
    async write(name, text) {
      const file = join(path, name);
      await writeFile(file, text);
      return file;
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}
