import { parseDuration, z } from "@gatehouse-proxy/core";
import { RESERVED_HEADERS, isHeaderName, isHeaderValue } from "./headers.js";
import { parseWebhookSecret } from "./secret.js";

const duration = z.union([z.number(), z.string()]).transform((value, context) => {
  try {
    const ms = parseDuration(value);
    if (ms <= 0) throw new RangeError("must be greater than zero");
    return ms;
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

/** Never echoes the value: a secret that fails to parse is still a secret. */
const secretField = z.string().superRefine((value, context) => {
  try {
    parseWebhookSecret(value);
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
  }
});

export const headersSchema = z.record(z.string(), z.string()).superRefine((headers, context) => {
  for (const [name, value] of Object.entries(headers)) {
    if (!isHeaderName(name)) context.addIssue({ code: "custom", path: [name], message: "not a valid header name" });
    else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      context.addIssue({ code: "custom", path: [name], message: "set by the provider itself; cannot be configured" });
    }
    if (!isHeaderValue(value)) {
      context.addIssue({ code: "custom", path: [name], message: "header values cannot hold CR, LF or NUL" });
    }
  }
});

const tlsSchema = z.strictObject({
  /** PEM file of the CA(s) to trust instead of Node's bundled roots; relative to the config file. */
  ca_file: z.string().min(1).optional(),
  /** The name to verify the server certificate against (and to send as SNI), if not the URL's host. */
  servername: z.string().min(1).optional(),
});

export const webhookConfigSchema = z
  .strictObject({
    url: z.string().superRefine((value, context) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        context.addIssue({ code: "custom", message: "not a URL" });
        return;
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        context.addIssue({ code: "custom", message: "must start with https:// (or http:// with insecure: true)" });
      }
      if (url.username !== "" || url.password !== "") {
        context.addIssue({ code: "custom", message: "must not carry credentials; use headers" });
      }
      if (url.hash !== "") context.addIssue({ code: "custom", message: "must not have a #fragment" });
    }),
    /** Allows http:// (plain text on the wire: passwords readable by anyone on the path). */
    insecure: z.boolean().default(false),
    /** Standard Webhooks signing secret `whsec_<base64 of 24..64 random bytes>`. */
    secret: secretField.optional(),
    secret_file: z.string().min(1).optional(),
    /** Static headers (an API key, a tenant); values may use ${env:NAME}. */
    headers: headersSchema.optional(),
    /** A file of `Name: value` lines, merged with `headers` (for values kept out of the config). */
    headers_file: z.string().min(1).optional(),
    /** Deadline for the whole exchange: connect, send, status and body. */
    timeout: duration.default(5000),
    /** Largest response body read; a longer one is an error (the read is aborted at the limit). */
    max_response_bytes: z
      .number()
      .int()
      .min(16)
      .max(16 * 1024 * 1024)
      .default(64 * 1024),
    /** Reuse connections between logins (HTTP keep-alive). */
    keep_alive: z.boolean().default(true),
    /** Most connections open to the receiver at once; further logins wait for a free one. */
    max_sockets: z.number().int().min(1).max(1024).default(32),
    /** How long an idle kept-alive connection stays open; keep it below the receiver's own idle timeout. */
    idle_timeout: duration.default(4000),
    tls: tlsSchema.optional(),
    /** False: no answer is cached or shared between identical attempts (the receiver checks one-time codes). */
    reusable: z.boolean().default(true),
  })
  .superRefine((config, context) => {
    const protocol = URL.canParse(config.url) ? new URL(config.url).protocol : undefined;
    if (protocol === "http:" && !config.insecure) {
      context.addIssue({
        code: "custom",
        path: ["url"],
        message: "must start with https:// (set insecure: true to send passwords over plain http://)",
      });
    }
    if (protocol === "http:" && config.tls !== undefined) {
      context.addIssue({ code: "custom", path: ["tls"], message: "only applies to https:// URLs" });
    }
    if (config.secret !== undefined && config.secret_file !== undefined) {
      context.addIssue({ code: "custom", path: ["secret"], message: "set either secret or secret_file, not both" });
    }
  });

export type WebhookConfig = z.output<typeof webhookConfigSchema>;
