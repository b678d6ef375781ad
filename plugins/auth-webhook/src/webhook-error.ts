/** Why an exchange with the receiver failed (a broken backend, not bad credentials). */
export type WebhookErrorCode =
  "timeout" | "network" | "redirect" | "status" | "response_too_large" | "invalid_response" | "config";

/** Thrown by the provider; the message names the endpoint and the cause, never a credential. */
export class WebhookError extends Error {
  constructor(
    readonly code: WebhookErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "WebhookError";
  }
}
