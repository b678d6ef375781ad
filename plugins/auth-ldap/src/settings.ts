import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { LdapConfig } from "./config.js";
import { DEFAULT_USER_FILTER } from "./config.js";
import type { TransportSettings } from "./connection.js";
import { isDnTemplate, usernameAttribute } from "./escape.js";
import type { GroupSettings } from "./groups.js";

/** Everything the provider needs, with files read and defaults derived. */
export interface LdapSettings {
  readonly transport: TransportSettings;
  readonly service: { readonly dn: string; readonly password: string } | undefined;
  readonly lookup:
    | { readonly mode: "search"; readonly base: string; readonly filter: string }
    | {
        readonly mode: "template";
        readonly template: string;
        readonly isDn: boolean;
        /** Optional search for the entry after the bind (for non-DN templates such as AD's UPN). */
        readonly search: { readonly base: string; readonly filter: string } | undefined;
      };
  /** The attribute the identity is read from; `explicit` when configured (then it must be present). */
  readonly identity: { readonly attribute: string; readonly explicit: boolean } | undefined;
  readonly groups: GroupSettings;
}

async function readSecretFile(configDir: string, file: string, what: string): Promise<string> {
  const path = resolve(configDir, file);
  try {
    // One trailing newline is an artefact of editors and `echo`; the rest of the file is the secret.
    return (await readFile(path, "utf8")).replace(/\r?\n$/, "");
  } catch (error) {
    throw new Error(`${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, {
      cause: error,
    });
  }
}

export async function resolveSettings(config: LdapConfig, configDir: string): Promise<LdapSettings> {
  let ca: string | undefined;
  if (config.tls?.ca_file !== undefined) {
    const path = resolve(configDir, config.tls.ca_file);
    try {
      ca = await readFile(path, "utf8");
    } catch (error) {
      throw new Error(`tls.ca_file: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, {
        cause: error,
      });
    }
  }
  const tls = {
    rejectUnauthorized: config.tls?.reject_unauthorized ?? true,
    ...(ca === undefined ? {} : { ca }),
    ...(config.tls?.servername === undefined ? {} : { servername: config.tls.servername }),
  };
  let service: LdapSettings["service"];
  if (config.bind_dn !== undefined) {
    const password =
      config.bind_password ?? (await readSecretFile(configDir, config.bind_password_file ?? "", "bind_password_file"));
    if (password === "") throw new Error("bind_password_file: the file is empty");
    service = { dn: config.bind_dn, password };
  }

  let lookup: LdapSettings["lookup"];
  let derived: string | undefined;
  if (config.user_dn_template === undefined) {
    const filter = config.user_filter ?? DEFAULT_USER_FILTER;
    lookup = { mode: "search", base: config.user_base ?? "", filter };
    derived = usernameAttribute(filter);
  } else {
    const isDn = isDnTemplate(config.user_dn_template);
    const search =
      config.user_filter !== undefined && config.user_base !== undefined
        ? { base: config.user_base, filter: config.user_filter }
        : undefined;
    lookup = { mode: "template", template: config.user_dn_template, isDn, search };
    derived =
      search === undefined
        ? isDn
          ? usernameAttribute(config.user_dn_template)
          : undefined
        : usernameAttribute(search.filter);
  }
  const identity =
    config.identity_attribute !== undefined
      ? { attribute: config.identity_attribute, explicit: true }
      : derived === undefined
        ? undefined
        : { attribute: derived, explicit: false };

  return {
    transport: {
      connectTimeoutMs: config.connect_timeout,
      timeoutMs: config.timeout,
      startTls: config.start_tls,
      tls,
    },
    service,
    lookup,
    identity,
    groups: {
      memberOfAttribute: config.member_of_attribute,
      groupBase: config.group_base,
      groupFilter: config.group_filter,
      nameAttribute: config.group_name_attribute,
      nested: config.nested_groups,
      maxDepth: config.max_group_depth,
    },
  };
}
