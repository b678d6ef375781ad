import { Tokens, definePlugin } from "@gatehouse-proxy/core";
import { Lifecycle } from "tsyringe";
import { webhookConfigSchema } from "./config.js";
import { WebhookProvider } from "./webhook-provider.js";

export { WebhookProvider } from "./webhook-provider.js";
export { webhookConfigSchema } from "./config.js";
export type { WebhookConfig } from "./config.js";
export { WebhookError } from "./webhook-error.js";
export type { WebhookErrorCode } from "./webhook-error.js";
export { newWebhookId, parseWebhookSecret, signWebhook } from "./secret.js";
export { HeadersFileError, parseHeadersFile } from "./headers.js";

/** `use: webhook` — an HTTP service of your own decides each login. */
export default definePlugin({
  name: "@gatehouse-proxy/auth-webhook",
  gatehouse: "^0.1",
  configSchema: webhookConfigSchema,
  register(container, config, context) {
    container.register(Tokens.PluginConfig, { useValue: config });
    container.register(Tokens.PluginContext, { useValue: context });
    if (!container.isRegistered(Tokens.Logger, true)) container.register(Tokens.Logger, { useValue: context.logger });
    // One provider (one connection pool) per instance container.
    container.register(Tokens.AuthProvider, { useClass: WebhookProvider }, { lifecycle: Lifecycle.ContainerScoped });
  },
});
