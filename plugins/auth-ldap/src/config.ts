import { parseDuration, z } from "@gatehouse-proxy/core";
import { FilterParser } from "ldapts";
import { fillTemplate } from "./escape.js";

/** `500ms`, `5s`, or milliseconds; output is milliseconds. */
const duration = z.union([z.number(), z.string()]).transform((value, context) => {
  try {
    return parseDuration(value);
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

const ldapUrl = z
  .string()
  .refine(
    (value) => /^ldaps?:\/\/[^/?#]+\/?$/i.test(value),
    "must start with ldap:// or ldaps:// and name only host[:port]",
  );

const tlsSchema = z.strictObject({
  /** PEM file of the CA(s) that signed the directory's certificate; relative to the config file. */
  ca_file: z.string().min(1).optional(),
  /** Name to verify in the server certificate, when it differs from the URL's host. */
  servername: z.string().min(1).optional(),
  reject_unauthorized: z.boolean().default(true),
});

const groupMapValue = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const ldapConfigSchema = z
  .strictObject({
    url: z
      .union([ldapUrl, z.array(ldapUrl).min(1)], {
        error: (issue) =>
          issue.input === undefined ? "is required: ldaps://host[:port] or a list of them" : undefined,
      })
      .transform((value) => (Array.isArray(value) ? value : [value])),
    start_tls: z.boolean().default(false),
    /** Allows plain ldap:// without StartTLS (passwords cross the network in clear). */
    insecure: z.boolean().default(false),
    tls: tlsSchema.optional(),
    // Below the pipeline's default 5 s deadline, so a hung server times out (and is failed over) in time.
    connect_timeout: duration.default(2000),
    timeout: duration.default(3000),
    /** How long a server that refused or timed out is skipped before it is tried again. */
    retry_after: duration.default(30000),
    /** Service connections kept open for searches. */
    pool_size: z.number().int().min(1).max(16).default(2),
    /** Idle connections kept for user binds (reused one login at a time); 0 opens one per login. */
    bind_pool_size: z.number().int().min(0).max(256).default(8),
    /** User-bind connections open at once; more logins wait (within their deadline) for one. */
    max_bind_connections: z.number().int().min(1).max(1024).default(32),

    bind_dn: z.string().min(1).optional(),
    bind_password: z.string().min(1).optional(),
    bind_password_file: z.string().min(1).optional(),

    user_base: z.string().min(1).optional(),
    user_filter: z.string().min(1).optional(),
    user_dn_template: z.string().min(1).optional(),
    identity_attribute: z.string().min(1).optional(),

    member_of_attribute: z.string().min(1).default("memberOf"),
    group_base: z.string().min(1).optional(),
    group_filter: z.string().min(1).default("(&(objectClass=groupOfNames)(member={dn}))"),
    group_name_attribute: z.string().min(1).default("cn"),
    nested_groups: z.boolean().default(false),
    max_group_depth: z.number().int().min(1).max(20).default(5),
    required_groups: z.array(z.string().min(1)).min(1).optional(),
    group_map: z.record(z.string().min(1), groupMapValue).optional(),
    /** `keep` passes directory groups without a group_map entry through unchanged; `drop` omits them. */
    unmapped_groups: z.enum(["keep", "drop"]).default("keep"),
  })
  .superRefine((config, context) => {
    // zod runs this even when a field failed its own check: look only at well-typed values.
    const issue = (path: (string | number)[], message: string): void => {
      context.addIssue({ code: "custom", path, message });
    };
    const isString = (value: unknown): value is string => typeof value === "string";
    if (config.bind_password !== undefined && config.bind_password_file !== undefined) {
      issue(["bind_password"], "set either bind_password or bind_password_file, not both");
    }
    const hasPassword = config.bind_password !== undefined || config.bind_password_file !== undefined;
    if (config.bind_dn !== undefined && !hasPassword) issue(["bind_dn"], "needs bind_password or bind_password_file");
    if (config.bind_dn === undefined && hasPassword) issue(["bind_password"], "is only used with bind_dn");
    if (config.user_dn_template === undefined) {
      if (config.user_base === undefined) issue(["user_base"], "is required unless user_dn_template is set");
      if (isString(config.user_filter) && !config.user_filter.includes("{username}")) {
        issue(["user_filter"], "must contain {username}");
      }
    } else if (isString(config.user_dn_template) && !config.user_dn_template.includes("{username}")) {
      issue(["user_dn_template"], "must contain {username}");
    } else if (config.user_filter !== undefined && config.user_base === undefined) {
      issue(["user_filter"], "needs user_base (the entry is searched under it after the bind)");
    }
    for (const key of ["user_filter", "group_filter"] as const) {
      const problem = filterProblem(config[key]);
      if (problem !== undefined) issue([key], problem);
    }
    if (!Array.isArray(config.url)) return;
    config.url.forEach((url, index) => {
      if (!isString(url)) return;
      const secure = url.toLowerCase().startsWith("ldaps://");
      if (secure && config.start_tls) issue(["url", index], "ldaps:// is already TLS: drop start_tls");
      if (!secure && !config.start_tls && !config.insecure) {
        issue(
          ["url", index],
          "plain ldap:// sends passwords in clear: use ldaps://, start_tls: true, or insecure: true",
        );
      }
    });
  });

/** Why a filter template is not a valid LDAP filter (checked with sample values), or undefined. */
function filterProblem(template: unknown): string | undefined {
  if (typeof template !== "string") return undefined;
  if (!/^\(.*\)$/s.test(template)) return "must be a parenthesised LDAP filter such as (uid={username})";
  if (!balancedParentheses(template)) return "has unbalanced parentheses";
  try {
    FilterParser.parseString(fillTemplate(template, { username: "sample", dn: "cn=sample" }));
    return undefined;
  } catch (error) {
    return `is not a valid LDAP filter: ${(error as Error).message}`;
  }
}

/** Every `(` closed, never more `)` than `(` so far, and the outer pair encloses the whole filter. */
function balancedParentheses(filter: string): boolean {
  let depth = 0;
  for (let index = 0; index < filter.length; index++) {
    const char = filter[index];
    if (char === "\\") index += 1;
    else if (char === "(") depth += 1;
    else if (char === ")") {
      depth -= 1;
      if (depth < 0 || (depth === 0 && index !== filter.length - 1)) return false;
    }
  }
  return depth === 0;
}

export type LdapConfig = z.output<typeof ldapConfigSchema>;
export const DEFAULT_USER_FILTER = "(uid={username})";
