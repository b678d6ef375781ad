import { IDENTITY_CONTEXTS } from "./contract.js";
import type { Identity, IdentityContext, NormalizedAuthInfo } from "./contract.js";

const VALID_CONTEXTS: ReadonlySet<string> = new Set(IDENTITY_CONTEXTS);

/** What normalizeAuthResult decided: an allow with the normalised AuthInfo, or a denial; `invalid` marks a result of the wrong shape (logged as `invalid_response`) rather than bad credentials. */
export type NormalizeOutcome =
  | {
      readonly ok: true;
      readonly info: NormalizedAuthInfo;
      /** False when the AuthInfo said `reusable: false`: this allow must not be cached or shared. */
      readonly reusable: boolean;
    }
  | { readonly ok: false; readonly invalid: boolean; readonly detail: string };

/**
 * Applies the seed's result table to whatever a provider returned (it may be JavaScript
 * or Lua with no type checks): `true` → the username as a ProxyAuthRfc1929 identity;
 * an AuthInfo with at least one identity → success; `false` → bad credentials; anything
 * else, including an AuthInfo with no identities or an unknown context → invalid (denied).
 */
export function normalizeAuthResult(result: unknown, username: string): NormalizeOutcome {
  if (result === true) {
    return {
      ok: true,
      info: { identities: [{ identity: username, context: "ProxyAuthRfc1929" }], groups: [] },
      reusable: true,
    };
  }
  if (result === false) return { ok: false, invalid: false, detail: "provider returned false" };
  if (typeof result !== "object" || result === null || Array.isArray(result)) {
    return { ok: false, invalid: true, detail: `provider returned ${describe(result)}` };
  }
  const record = result as Record<string, unknown>;
  const identities = record["identities"];
  if (!Array.isArray(identities)) return invalid("AuthInfo.identities is not an array");
  if (identities.length === 0) return { ok: false, invalid: false, detail: "AuthInfo has no identities" };
  const normalized: Identity[] = [];
  for (const [index, entry] of identities.entries()) {
    if (typeof entry !== "object" || entry === null) return invalid(`identities[${String(index)}] is not an object`);
    const { identity, context } = entry as Record<string, unknown>;
    if (typeof identity !== "string") return invalid(`identities[${String(index)}].identity is not a string`);
    if (typeof context !== "string" || !VALID_CONTEXTS.has(context)) {
      return invalid(`identities[${String(index)}].context is not a known context`);
    }
    normalized.push({ identity, context: context as IdentityContext });
  }
  const groups = record["groups"];
  if (groups !== undefined && groups !== null) {
    if (!Array.isArray(groups) || !groups.every((group) => typeof group === "string")) {
      return invalid("AuthInfo.groups is not an array of strings");
    }
  }
  const reusable = record["reusable"];
  if (reusable !== undefined && typeof reusable !== "boolean") return invalid("AuthInfo.reusable is not a boolean");
  return {
    ok: true,
    info: { identities: normalized, groups: groups ? [...groups] : [] },
    reusable: reusable !== false,
  };
}

function invalid(detail: string): NormalizeOutcome {
  return { ok: false, invalid: true, detail };
}

function describe(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}
