import "reflect-metadata";
import type { AuthProvider, AuthRequest } from "@gatehouse-proxy/core";
import { recordingLogger, wirePlugin } from "@gatehouse-proxy/plugin-testkit";
import type { RecordingLogger } from "@gatehouse-proxy/plugin-testkit";
import plugin from "@gatehouse-proxy/auth-ldap";

export function request(username: string, password: string): AuthRequest {
  return { username, password, connMeta: { peer_address: "127.0.0.1:5000", local_address: "127.0.0.1:1080" } };
}

export function signal(ms = 20_000): AbortSignal {
  return AbortSignal.timeout(ms);
}

export { recordingLogger };
export type { RecordingLogger };

export interface Wired {
  readonly provider: AuthProvider;
  readonly logger: RecordingLogger;
}

/** Validates `rawConfig` with the plugin's schema and wires it with the host's code (a child container). */
export function wire(rawConfig: unknown, configDir = "/nonexistent"): Wired {
  const logger = recordingLogger();
  const { provider } = wirePlugin(plugin, rawConfig, { instanceName: "corp-ldap", configDir, logger });
  return { provider, logger };
}

/** The last `ldap_auth_denied` reason logged. */
export function lastDenyReason(logger: RecordingLogger): unknown {
  return logger.events("ldap_auth_denied").at(-1)?.["reason"];
}
