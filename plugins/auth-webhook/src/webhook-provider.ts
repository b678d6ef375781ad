import { Tokens } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest, AuthResult, Logger, PluginContext } from "@gatehouse-proxy/core";
import fetch from "node-fetch";
import { inject, injectable } from "tsyringe";
import type { WebhookConfig } from "./config.js";
import { interpretResponse } from "./interpret-response.js";
import { probeConnection } from "./probe.js";
import { readCappedBody } from "./read-body.js";
import { newWebhookId, signWebhook } from "./secret.js";
import { loadSettings } from "./settings.js";
import type { WebhookSettings } from "./settings.js";
import { WebhookError } from "./webhook-error.js";

const USER_AGENT = "gatehouse-auth-webhook/0.1";

/**
 * Asks an HTTP service for each login: POST of `{username, password, conn_meta, listener}`,
 * signed Standard Webhooks style when a secret is set. 2xx allows (or answers with its body),
 * 401/403 deny, anything else — and any failure to get a complete answer before the deadline —
 * throws. Never retries: the request carries a password and may already have been acted on.
 */
@injectable()
export class WebhookProvider implements AuthProvider {
  readonly name: string;
  /** The receiver sees the client's address: the pipeline caches and coalesces per client and listener. */
  readonly usesConnMeta = true;
  /** `reusable: false` in the config: every attempt reaches the receiver (no cache, no coalescing). */
  readonly reusable: boolean;
  private settings: Promise<WebhookSettings> | undefined;

  constructor(
    @inject(Tokens.Config) private readonly config: WebhookConfig,
    @inject(Tokens.Context) private readonly context: PluginContext,
    @inject(Tokens.Logger) private readonly logger: Logger,
    /** Signs with the host's clock (webhook-timestamp). */
    @inject(Tokens.Clock) private readonly clock: () => number,
  ) {
    this.name = context.instanceName;
    this.reusable = config.reusable;
  }

  /** Reads secret_file, headers_file and tls.ca_file; a missing or bad file stops startup. */
  async init(): Promise<void> {
    const settings = await this.ready();
    this.logger.info(
      { url: settings.endpoint, signed: settings.key !== undefined, keep_alive: this.config.keep_alive },
      "webhook provider ready",
    );
  }

  async authenticate(request: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
    const settings = await this.ready();
    // node-fetch given an already aborted signal destroys its internal body stream with an
    // AbortError nobody listens to: an uncaught exception. Nothing is sent, so settle here.
    signal.throwIfAborted();
    const deadline = AbortSignal.timeout(this.config.timeout);
    // Aborted when the body read fails (too large): tears the connection down.
    const local = new AbortController();
    const combined = AbortSignal.any([signal, deadline, local.signal]);
    const body = Buffer.from(
      JSON.stringify({
        username: request.username,
        password: request.password,
        conn_meta: { peer_address: request.connMeta.peer_address, local_address: request.connMeta.local_address },
        listener: request.connMeta.local_address,
      }),
      "utf8",
    );
    try {
      const response = await fetch(settings.url, {
        method: "POST",
        headers: this.headers(settings, body),
        body,
        signal: combined,
        agent: settings.agent,
        redirect: "manual",
        compress: false,
        follow: 0,
      });
      const bytes = await readCappedBody(
        response.body,
        this.config.max_response_bytes,
        response.headers.get("content-length"),
      );
      return interpretResponse(response.status, bytes, request.username, settings.endpoint);
    } catch (error) {
      local.abort();
      throw this.failure(error, settings.endpoint, signal, deadline);
    }
  }

  /**
   * Opens (and closes) one connection to the receiver, with the TLS handshake for https://:
   * reachable and trusted. No login is sent. Rejects when the receiver cannot be reached.
   */
  async health(signal: AbortSignal): Promise<void> {
    const settings = await this.ready();
    await probeConnection(settings.url, settings.tls, settings.endpoint, this.config.timeout, signal);
  }

  async close(): Promise<void> {
    const settings = this.settings;
    this.settings = undefined;
    if (settings !== undefined) (await settings.catch(() => undefined))?.agent.destroy();
  }

  private ready(): Promise<WebhookSettings> {
    if (this.settings === undefined) {
      const loading = loadSettings(this.config, this.context.configDir);
      // A failed load is retried on the next call rather than remembered forever.
      loading.catch(() => {
        if (this.settings === loading) this.settings = undefined;
      });
      this.settings = loading;
    }
    return this.settings;
  }

  private headers(settings: WebhookSettings, body: Buffer): Record<string, string> {
    const headers: Record<string, string> = {
      ...settings.headers,
      "content-type": "application/json",
      accept: "application/json",
      "user-agent": settings.headers["user-agent"] ?? settings.headers["User-Agent"] ?? USER_AGENT,
    };
    // Without it, Node's Agent (finite maxSockets) still keeps a connection open for a queued request.
    if (!this.config.keep_alive) headers["connection"] = "close";
    if (settings.key !== undefined) {
      const id = newWebhookId();
      const timestamp = Math.floor(this.clock() / 1000);
      headers["webhook-id"] = id;
      headers["webhook-timestamp"] = String(timestamp);
      headers["webhook-signature"] = signWebhook(settings.key, id, timestamp, body);
    }
    return headers;
  }

  private failure(error: unknown, endpoint: string, caller: AbortSignal, deadline: AbortSignal): unknown {
    if (caller.aborted) return caller.reason;
    if (deadline.aborted) {
      return new WebhookError("timeout", `${endpoint}: no complete answer within ${this.config.timeout} ms (timeout)`);
    }
    if (error instanceof WebhookError) return error;
    return new WebhookError("network", `${endpoint}: ${networkReason(error)}`, { cause: error });
  }
}

/** node-fetch says "request to <url> failed, reason: <why>"; keep the why, not the URL (its query may hold a token). */
function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return "request failed";
  const reason = /, reason: (.*)$/s.exec(error.message)?.[1] ?? error.message.replace(/https?:\/\/\S+/g, "<url>");
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && !reason.includes(code) ? `${code}: ${reason}` : reason;
}
