import { definePlugin } from "@gatehouse-proxy/core";
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
  provider: WebhookProvider,
});
