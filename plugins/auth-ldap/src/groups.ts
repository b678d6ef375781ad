import { NoSuchObjectError } from "ldapts";
import type { SearchOptions } from "ldapts";
import { attributeValues } from "./connection.js";
import type { DirectoryEntry } from "./connection.js";
import { firstRdn, normalizeDn } from "./dn.js";
import { escapeFilterValue, fillTemplate } from "./escape.js";

export interface GroupSettings {
  readonly memberOfAttribute: string;
  /** When set, groups come from a search under it with `filter`; else from memberOf. */
  readonly groupBase: string | undefined;
  readonly groupFilter: string;
  readonly nameAttribute: string;
  readonly nested: boolean;
  readonly maxDepth: number;
}

export type Search = (base: string, options: SearchOptions) => Promise<DirectoryEntry[]>;

/** A bound on the work one login can cause, whatever the directory holds. */
const MAX_GROUPS = 1000;

interface Group {
  readonly dn: string;
  name: string | undefined;
}

/**
 * The names of the user's groups: direct ones from memberOf or a group search, then (with
 * `nested`) the groups those groups belong to, breadth first, to `maxDepth` levels, each DN
 * visited once (a cycle ends there).
 */
export async function resolveGroups(
  user: DirectoryEntry | undefined,
  username: string,
  settings: GroupSettings,
  search: Search,
): Promise<string[]> {
  if (user === undefined && settings.groupBase === undefined) return [];
  const visited = new Map<string, Group>();
  let frontier = await parentsOf(user, user?.dn, username, settings, search);
  for (let depth = 1; frontier.length > 0; depth++) {
    const fresh = frontier.filter((group) => !visited.has(normalizeDn(group.dn)));
    for (const group of fresh) visited.set(normalizeDn(group.dn), group);
    if (!settings.nested || depth >= settings.maxDepth || visited.size >= MAX_GROUPS) break;
    const next: Group[] = [];
    for (const group of fresh) {
      const entry = settings.groupBase === undefined ? await readGroup(group, settings, search) : undefined;
      next.push(...(await parentsOf(entry, group.dn, username, settings, search)));
    }
    frontier = next;
  }
  const names: string[] = [];
  for (const group of [...visited.values()].slice(0, MAX_GROUPS)) {
    group.name ??= (await readGroup(group, settings, search))?.name;
    if (group.name !== undefined && !names.includes(group.name)) names.push(group.name);
  }
  return names;
}

/** The groups `dn` is a direct member of. */
async function parentsOf(
  entry: DirectoryEntry | undefined,
  dn: string | undefined,
  username: string,
  settings: GroupSettings,
  search: Search,
): Promise<Group[]> {
  if (settings.groupBase !== undefined) {
    const filter = fillTemplate(settings.groupFilter, {
      dn: escapeFilterValue(dn ?? ""),
      username: escapeFilterValue(username),
    });
    const found = await search(settings.groupBase, { scope: "sub", filter, attributes: [settings.nameAttribute] });
    return found.map((group) => ({
      dn: group.dn,
      name: attributeValues(group, settings.nameAttribute)[0] ?? nameFromDn(group.dn, settings),
    }));
  }
  if (entry === undefined) return [];
  return attributeValues(entry, settings.memberOfAttribute).map((groupDn) => ({
    dn: groupDn,
    name: nameFromDn(groupDn, settings),
  }));
}

/** Reads a group entry (its name and, for nesting, its memberOf); sets the name when found. */
async function readGroup(
  group: Group,
  settings: GroupSettings,
  search: Search,
): Promise<(DirectoryEntry & { name?: string }) | undefined> {
  let found: DirectoryEntry[];
  try {
    found = await search(group.dn, {
      scope: "base",
      filter: "(objectClass=*)",
      attributes: [settings.nameAttribute, settings.memberOfAttribute],
    });
  } catch (error) {
    // A memberOf value naming a deleted group is the directory's leftover, not an outage.
    if (error instanceof NoSuchObjectError) return undefined;
    throw error;
  }
  const entry = found[0];
  if (entry === undefined) return undefined;
  const name = attributeValues(entry, settings.nameAttribute)[0];
  if (name !== undefined) group.name ??= name;
  return name === undefined ? entry : { ...entry, name };
}

/** `cn=admins,ou=groups,...` names the group `admins` when the name attribute is cn. */
function nameFromDn(dn: string, settings: GroupSettings): string | undefined {
  const rdn = firstRdn(dn);
  return rdn !== undefined && rdn.attribute.toLowerCase() === settings.nameAttribute.toLowerCase()
    ? rdn.value
    : undefined;
}
