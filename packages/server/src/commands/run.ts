import { createProxyServer } from "@gatehouse/core";
import type { ProxyServer } from "@gatehouse/core";
import type { Logger as PinoLogger } from "pino";
import { closeProviders, createProviders, initProviders } from "../wiring/create-providers.js";
import type { ProviderInstance } from "../wiring/create-providers.js";
import { chainEntries, pipelineSettings } from "../wiring/pipeline-settings.js";
import { createRootContainer } from "../wiring/root-container.js";
import type { Prepared } from "./prepare.js";

export interface Running {
  readonly server: ProxyServer;
  stop(): Promise<void>;
}

/** The composition root: root container, provider instances (init in order), then the proxy. */
export async function runProxy(prepared: Prepared, logger: PinoLogger): Promise<Running> {
  const root = createRootContainer({ logger });
  const instances: ProviderInstance[] = createProviders(root, prepared.plans, prepared.configDir, logger);
  if (instances.length === 0 && prepared.listeners.some((listener) => listener.require_auth === true)) {
    logger.warn(
      { event: "no_auth_provider" },
      "require_auth is set but no auth provider is configured: every username/password attempt is denied",
    );
  }
  await initProviders(instances, logger);
  let server: ProxyServer;
  try {
    server = createProxyServer({
      listeners: prepared.listeners,
      auth: { ...pipelineSettings(prepared.auth), chain: chainEntries(instances) },
      logger,
    });
    await server.start();
  } catch (error) {
    await closeProviders(instances, logger);
    throw error;
  }
  const addresses = server.addresses().map((address) => `${address.address}:${String(address.port)}`);
  logger.info(
    { event: "started", listeners: addresses, providers: instances.map((instance) => instance.instanceName) },
    "gatehouse started",
  );
  let stopping: Promise<void> | undefined;
  return {
    server,
    stop() {
      stopping ??= (async () => {
        await server.close();
        await closeProviders(instances, logger);
      })();
      return stopping;
    },
  };
}
