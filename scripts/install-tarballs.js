#!/usr/bin/env node
// Packs workspace packages and installs the tarballs into an empty folder with no registry
// access, the way a user installs the published packages (used by the install tests).
//
//   node scripts/install-tarballs.js --into DIR [--dev] NAME...
//
// NAME is a workspace package (gatehouse-proxy, @gatehouse-proxy/core, ...); DIR gets a
// package.json depending on each NAME (with --dev: as devDependencies), the tarballs of every
// workspace package they need, and `npm ci --offline`. Third-party packages come from the npm
// cache, which `npm ci` in the workspace has filled: npm needs registry metadata to resolve a
// range, and `npm ci` caches tarballs only, so this writes the lockfile itself, from the
// workspace's (same versions, same `resolved` and `integrity`).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
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

export function installTarballs(into, names, { dev = false } = {}) {
  const { entries, workspaces } = readWorkspaceLock();
  const packed = new Map(); // workspace name → tarball file name
  const lockPackages = {};
  const pending = [];

  /** Adds the node at source location `source` as target location `target`, once. */
  function add(source, target) {
    if (lockPackages[target] !== undefined) return;
    const entry = entries[source];
    if (entry.link === true) throw new Error(`a workspace package nested at ${source}`);
    lockPackages[target] = productionEntry(entry);
    pending.push({ source, target });
  }

  function addWorkspace(name) {
    const folder = workspaces.get(name);
    if (folder === undefined) throw new Error(`${name} is not a workspace package`);
    const target = `node_modules/${name}`;
    if (lockPackages[target] !== undefined) return;
    const pack = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", into, `-w`, folder], {
      cwd: ROOT,
      encoding: "utf8",
    });
    if (pack.status !== 0) throw new Error(`npm pack ${folder} failed:\n${pack.stderr}`);
    const [{ filename, integrity, version }] = JSON.parse(pack.stdout);
    packed.set(name, filename);
    lockPackages[target] = {
      ...productionEntry(entries[folder]),
      name,
      version,
      resolved: `file:${filename}`,
      integrity,
    };
    pending.push({ source: folder, target });
  }

  mkdirSync(into, { recursive: true });
  for (const name of names) addWorkspace(name);
  while (pending.length > 0) {
    const { source } = pending.shift();
    const entry = entries[source];
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    const wanted = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => optionalPeers[name]?.optional !== true),
    ];
    for (const name of wanted) {
      if (workspaces.has(name)) {
        addWorkspace(name);
        continue;
      }
      const found = resolveFrom(entries, source, name);
      if (found === undefined) {
        if (entry.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`${name}, needed by ${source || "the workspace"}, is not in package-lock.json`);
      }
      // A copy nested under a workspace folder sits under that package's own node_modules.
      const folderOwner = [...workspaces].find(([, folder]) => found.startsWith(`${folder}/`));
      add(found, folderOwner ? `node_modules/${folderOwner[0]}/${found.slice(folderOwner[1].length + 1)}` : found);
    }
  }

  const dependencies = Object.fromEntries(names.map((name) => [name, `file:${packed.get(name)}`]));
  const manifest = { name: "install-test", version: "1.0.0", private: true };
  manifest[dev ? "devDependencies" : "dependencies"] = dependencies;
  for (const target of Object.keys(lockPackages)) {
    if (dev) lockPackages[target].dev = true;
  }
  writeFileSync(join(into, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  writeFileSync(
    join(into, "package-lock.json"),
    JSON.stringify(
      {
        name: manifest.name,
        version: manifest.version,
        lockfileVersion: 3,
        requires: true,
        packages: { "": { ...manifest, name: undefined, private: undefined }, ...lockPackages },
      },
      null,
      2,
    ) + "\n",
  );
  const install = spawnSync(
    "npm",
    ["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
    { cwd: into, encoding: "utf8" },
  );
  if (install.status !== 0) throw new Error(`npm ci --offline in ${into} failed:\n${install.stdout}${install.stderr}`);
  return { tarballs: [...packed.values()].sort() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--into");
  const dev = args.includes("--dev");
  if (at === -1 || args[at + 1] === undefined) {
    console.error("usage: node scripts/install-tarballs.js --into DIR [--dev] NAME...");
    process.exit(2);
  }
  const into = resolve(args[at + 1]);
  const names = args.filter((arg, index) => index !== at && index !== at + 1 && arg !== "--dev");
  try {
    const { tarballs } = installTarballs(into, names, { dev });
    process.stdout.write(JSON.stringify({ into: relative(process.cwd(), into) || ".", tarballs }) + "\n");
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
