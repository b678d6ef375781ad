import { readFileSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { canonicalName } from "./name.js";

/** The addresses a hosts file gives one name, each family in file order. */
export interface HostsEntry {
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
}

/** `ADDRESS NAME [ALIAS...]` lines; `#` starts a comment; lines without a valid address are skipped. */
export function parseHosts(text: string): Map<string, HostsEntry> {
  const table = new Map<string, { ipv4: string[]; ipv6: string[] }>();
  for (const line of text.split("\n")) {
    const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    const family = address === undefined ? 0 : isIP(address);
    if (family === 0) continue;
    for (const name of names) {
      const key = canonicalName(name);
      let entry = table.get(key);
      if (entry === undefined) table.set(key, (entry = { ipv4: [], ipv6: [] }));
      const list = family === 4 ? entry.ipv4 : entry.ipv6;
      if (!list.includes(address!)) list.push(address!);
    }
  }
  return table;
}

export interface HostsFileOptions {
  /** A file that cannot be read is an error (when configured), not an empty table (the system's default). */
  readonly required?: boolean;
  /** How often, at most, the file is checked for a change; default 2s. */
  readonly checkIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * A hosts file read once and re-read when it changes. The check is a stat at most every
 * `checkIntervalMs`, done synchronously on a lookup: a small local file, and the libuv
 * threadpool (where an async stat would queue behind password hashing) stays out of the
 * lookup's path.
 */
export class HostsFile {
  private table: Map<string, HostsEntry>;
  private signature: string;
  private checkedAt: number;
  private readonly checkIntervalMs: number;
  private readonly now: () => number;

  constructor(
    readonly path: string,
    options: HostsFileOptions = {},
  ) {
    this.checkIntervalMs = options.checkIntervalMs ?? 2000;
    this.now = options.now ?? Date.now;
    this.checkedAt = this.now();
    try {
      this.signature = signatureOf(path);
      this.table = parseHosts(readFileSync(path, "utf8"));
    } catch (error) {
      if (options.required === true)
        throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
      this.signature = "";
      this.table = new Map();
    }
  }

  /** The file's addresses for `name` (any case, trailing dot or not), or undefined. */
  lookup(name: string): HostsEntry | undefined {
    this.refreshIfChanged();
    return this.table.get(canonicalName(name));
  }

  private refreshIfChanged(): void {
    const now = this.now();
    if (now - this.checkedAt < this.checkIntervalMs) return;
    this.checkedAt = now;
    try {
      const signature = signatureOf(this.path);
      if (signature === this.signature) return;
      this.table = parseHosts(readFileSync(this.path, "utf8"));
      this.signature = signature;
    } catch {
      // Gone or unreadable for a moment (an editor replacing it): the last good table stays.
    }
  }
}

function signatureOf(path: string): string {
  const stat = statSync(path);
  return `${String(stat.ino)}:${String(stat.size)}:${String(stat.mtimeMs)}`;
}
