import "reflect-metadata";
import type { AuthProvider, AuthRequest } from "@gatehouse-proxy/core";
import { recordingLogger, wirePlugin } from "@gatehouse-proxy/plugin-testkit";
import { Redis } from "ioredis";
import plugin from "@gatehouse-proxy/auth-redis";

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
}

/** Validates `rawConfig` with the plugin's schema and wires it with the host's code (a child container). */
export function wire(rawConfig: unknown, configDir = "/nonexistent"): Wired {
  const logger = recordingLogger();
  const { provider } = wirePlugin(plugin, rawConfig, { instanceName: "redis-users", configDir, logger });
  return { provider, logger };
}

/** Every command other clients send to `url` while `during` runs (Redis MONITOR), as argument lists. */
export async function monitorCommands(url: string, during: () => Promise<void>): Promise<string[][]> {
  const marker = new Redis(url, { lazyConnect: true });
  await marker.connect();
  const client = new Redis(url, { lazyConnect: true });
  await client.connect();
  const monitor = await client.monitor();
  const seen: string[][] = [];
  monitor.on("monitor", (_time: string, args: string[]) => seen.push(args));
  const markerText = `marker-${String(Math.random())}`;
  const index = (): number => seen.findIndex((args) => args.includes(markerText));
  try {
    await during();
    // MONITOR lines may trail the replies: send a marker and keep what came before it.
    await marker.echo(markerText);
    const deadline = Date.now() + 5000;
    while (index() < 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (index() < 0) throw new Error("the MONITOR marker never arrived");
    return seen.slice(0, index());
  } finally {
    monitor.disconnect();
    client.disconnect();
    marker.disconnect();
  }
}
