#!/usr/bin/env node
// Packs workspace packages and installs the tarballs into an empty folder with no registry
// access, the way a user installs the published packages (used by the install tests).
//
//   node scripts/install-tarballs.js --into DIR [NAME | FILE.tgz]...
//
// NAME is a workspace package (gatehouse-proxy, @gatehouse-proxy/core, ...), FILE.tgz another
// packed package (a plugin). DIR keeps its package.json if it has one (the workspace packages
// it names become `file:` tarballs, as docs/writing-a-plugin.md says to do until they are
// published) and gets each NAME and FILE as a dependency, the tarballs of every workspace
// package needed, and `npm ci --offline`. Third-party packages come from the npm
// cache, which `npm ci` in the workspace has filled: npm needs registry metadata to resolve a
// range, and `npm ci` caches tarballs only, so this writes the lockfile itself, from the
// workspace's (same versions, same `resolved` and `integrity`).
//
//   node scripts/install-tarballs.js --pack-only DIR
//
// packs every workspace package into DIR (with packed.json: file name → integrity). With
// GATEHOUSE_PACKED_DIR=DIR set, installs take their workspace tarballs from there instead of
// packing again: scripts/run-tests.js packs once for all the install tests of a run.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The workspace lockfile's view: every entry, and workspace package name → folder. */
function readWorkspaceLock() {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
  const entries = lock.packages;
  const workspaces = new Map();
  for (const [location, entry] of Object.entries(entries)) {
    if (entry.link === true && location.startsWith("node_modules/")) {
      workspaces.set(location.slice("node_modules/".length), entry.resolved);
    }
  }
  return { entries, workspaces };
}

/** Where node would find `name` from the lockfile location `from` (nested first, then up). */
function resolveFrom(entries, from, name) {
  for (let base = from; ;) {
    const candidate = base === "" ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (entries[candidate] !== undefined) return candidate;
    if (base === "") return undefined;
    const cut = base.lastIndexOf("/node_modules/");
    base = cut === -1 ? "" : base.slice(0, cut);
  }
}

const PRODUCTION_FIELDS = [
  "name",
  "version",
  "resolved",
  "integrity",
  "license",
  "dependencies",
  "optionalDependencies",
  "peerDependencies",
  "peerDependenciesMeta",
  "bin",
  "engines",
  "os",
  "cpu",
  "optional",
  "hasInstallScript",
];

function productionEntry(entry) {
  const out = {};
  for (const field of PRODUCTION_FIELDS) if (entry[field] !== undefined) out[field] = entry[field];
  return out;
}

/** The package.json inside a tarball made by npm pack. */
function manifestOf(tarball) {
  const read = spawnSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" });
  if (read.status !== 0) throw new Error(`cannot read package.json in ${tarball}: ${read.stderr}`);
  return JSON.parse(read.stdout);
}

const SECTIONS = ["dependencies", "devDependencies", "optionalDependencies"];
const PACKED_INDEX = "packed.json";

/**
 * Packs the workspace packages in `folders` (all of them when omitted) into `destination` with
 * one `npm pack` (npm's start-up dominates a pack); returns file name → integrity and writes
 * it to destination/packed.json.
 */
export function packWorkspaces(destination, folders = [...readWorkspaceLock().workspaces.values()]) {
  mkdirSync(destination, { recursive: true });
  const workspaceArgs = folders.flatMap((folder) => ["-w", folder]);
  const pack = spawnSync(
    "npm",
    ["pack", "--ignore-scripts", "--json", "--pack-destination", destination, ...workspaceArgs],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  if (pack.status !== 0) throw new Error(`npm pack ${folders.join(" ")} failed:\n${pack.stderr}`);
  const integrity = new Map(JSON.parse(pack.stdout).map((result) => [result.filename, result.integrity]));
  writeFileSync(join(destination, PACKED_INDEX), JSON.stringify(Object.fromEntries(integrity), null, 2) + "\n");
  return integrity;
}

/** GATEHOUSE_PACKED_DIR's integrity map if it holds every one of `filenames`, else undefined. */
function sharedTarballs(filenames) {
  const dir = process.env.GATEHOUSE_PACKED_DIR;
  if (dir === undefined || dir === "" || !existsSync(join(dir, PACKED_INDEX))) return undefined;
  const integrity = new Map(Object.entries(JSON.parse(readFileSync(join(dir, PACKED_INDEX), "utf8"))));
  return filenames.every((filename) => integrity.has(filename) && existsSync(join(dir, filename)))
    ? integrity
    : undefined;
}

/**
 * Installs into `into`: its own package.json if it has one (workspace packages it names become
 * `file:` tarballs), plus `packages` (workspace names) and `tarballs` (other packed packages,
 * e.g. a plugin) as dependencies. Returns the tarball file names written into `into`.
 */
export function installTarballs(into, { packages = [], tarballs = [] } = {}) {
  const { entries, workspaces } = readWorkspaceLock();
  const written = [];
  const lockPackages = {};
  // Each node still to walk: its lockfile entry and the workspace location its deps resolve from.
  const pending = [];

  function walk(entry, from) {
    pending.push({ entry, from });
  }

  /** Adds the third-party node at workspace location `source`, once. */
  function addThirdParty(source) {
    const owner = [...workspaces].find(([, folder]) => source.startsWith(`${folder}/`));
    // A copy nested under a workspace folder sits under that package's own node_modules.
    const target = owner ? `node_modules/${owner[0]}/${source.slice(owner[1].length + 1)}` : source;
    if (lockPackages[target] !== undefined) return;
    const entry = entries[source];
    lockPackages[target] = productionEntry(entry);
    walk(entry, source);
  }

  /** Workspace packages to pack, each with its lockfile entry (integrity filled in by packAll). */
  const toPack = [];

  /** Adds the workspace package `name`, once, to the packages to pack; returns its `file:` spec. */
  function addWorkspace(name) {
    const folder = workspaces.get(name);
    if (folder === undefined) throw new Error(`${name} is not a workspace package`);
    const target = `node_modules/${name}`;
    if (lockPackages[target] !== undefined) return lockPackages[target].resolved;
    const { version } = entries[folder];
    // npm pack's file name: the scope's @ dropped and its / made a -.
    const filename = `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`;
    const entry = { ...productionEntry(entries[folder]), name, version, resolved: `file:${filename}` };
    lockPackages[target] = entry;
    toPack.push({ folder, filename, entry });
    walk(entries[folder], folder);
    return entry.resolved;
  }

  /** The workspace tarballs: from GATEHOUSE_PACKED_DIR when it has them all, else one `npm pack`. */
  function packAll() {
    if (toPack.length === 0) return;
    const shared = sharedTarballs(toPack.map(({ filename }) => filename));
    const integrity =
      shared ??
      packWorkspaces(
        into,
        toPack.map(({ folder }) => folder),
      );
    for (const { folder, filename, entry } of toPack) {
      if (integrity.get(filename) === undefined) throw new Error(`npm pack ${folder} did not write ${filename}`);
      if (shared !== undefined) copyFileSync(join(process.env.GATEHOUSE_PACKED_DIR, filename), join(into, filename));
      entry.integrity = integrity.get(filename);
      written.push(filename);
    }
  }

  function addDependency(name, from) {
    if (workspaces.has(name)) return addWorkspace(name);
    const found = resolveFrom(entries, from, name);
    if (found === undefined) throw new Error(`${name}, needed by ${from || "the root"}, is not in package-lock.json`);
    addThirdParty(found);
    return undefined;
  }

  mkdirSync(into, { recursive: true });
  const manifestPath = join(into, "package.json");
  const manifest = existsSync(manifestPath)
    ? JSON.parse(readFileSync(manifestPath, "utf8"))
    : { name: "install-test", version: "1.0.0", private: true };
  manifest.dependencies ??= {};
  for (const name of packages) {
    if (!SECTIONS.some((section) => manifest[section]?.[name] !== undefined)) manifest.dependencies[name] = "*";
  }
  for (const tarball of tarballs) {
    const own = manifestOf(tarball);
    const filename = basename(tarball);
    copyFileSync(tarball, join(into, filename));
    written.push(filename);
    manifest.dependencies[own.name] = `file:${filename}`;
    const entry = { ...productionEntry(own), resolved: `file:${filename}` };
    lockPackages[`node_modules/${own.name}`] = entry;
    walk(entry, "");
  }
  for (const section of SECTIONS) {
    for (const name of Object.keys(manifest[section] ?? {})) {
      if (lockPackages[`node_modules/${name}`]?.resolved === manifest[section][name]) continue;
      const spec = addDependency(name, "");
      if (spec !== undefined) manifest[section][name] = spec;
    }
  }
  while (pending.length > 0) {
    const { entry, from } = pending.shift();
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    const wanted = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => optionalPeers[name]?.optional !== true),
    ];
    for (const name of wanted) {
      if (workspaces.has(name)) addWorkspace(name);
      else if (resolveFrom(entries, from, name) !== undefined) addThirdParty(resolveFrom(entries, from, name));
      else if (entry.optionalDependencies?.[name] === undefined) {
        throw new Error(`${name}, needed by ${entry.name ?? from}, is not in package-lock.json`);
      }
    }
  }

  packAll();
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  const root = {};
  for (const field of ["name", "version", ...SECTIONS, "peerDependencies"]) {
    if (manifest[field] !== undefined) root[field] = manifest[field];
  }
  const lock = { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true };
  lock.packages = { "": root, ...lockPackages };
  writeFileSync(join(into, "package-lock.json"), JSON.stringify(lock, null, 2) + "\n");
  const install = spawnSync(
    "npm",
    ["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
    {
      cwd: into,
      encoding: "utf8",
    },
  );
  if (install.status !== 0) throw new Error(`npm ci --offline in ${into} failed:\n${install.stdout}${install.stderr}`);
  return written.sort();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === "--pack-only" && args[1] !== undefined) {
    packWorkspaces(resolve(args[1]));
    process.exit(0);
  }
  const at = args.indexOf("--into");
  if (at === -1 || args[at + 1] === undefined) {
    console.error("usage: node scripts/install-tarballs.js --into DIR [NAME | FILE.tgz]... | --pack-only DIR");
    process.exit(2);
  }
  const into = resolve(args[at + 1]);
  const rest = args.filter((_, index) => index !== at && index !== at + 1);
  try {
    const written = installTarballs(into, {
      packages: rest.filter((arg) => !arg.endsWith(".tgz")),
      tarballs: rest.filter((arg) => arg.endsWith(".tgz")).map((file) => resolve(file)),
    });
    process.stdout.write(JSON.stringify({ into, tarballs: written }) + "\n");
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
