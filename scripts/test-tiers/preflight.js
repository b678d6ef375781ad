#!/usr/bin/env node
// Checks, before the backends and e2e tiers run, that the programs their tests start are
// installed. Without one, prints ONE line, the apt-get command that installs what is missing,
// and exits 1: better than a run that fails test by test. Looks only at files: no child process.
//
//   node scripts/test-tiers/preflight.js     (exit 0 and silent when everything is there)
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Each program the backends and e2e tests run, and the Debian package that installs it. */
export const REQUIRED_PROGRAMS = [
  { program: "curl", pkg: "curl" }, // the real SOCKS client
  { program: "openssl", pkg: "openssl" }, // test certificates
  { program: "slapd", pkg: "slapd" }, // auth-ldap's backend
  { program: "redis-server", pkg: "redis-server" }, // auth-redis's backend
  { program: "redis-cli", pkg: "redis-server" },
  { program: "cc", pkg: "gcc" }, // the glibc comparison of numeric host names
  { program: "g++", pkg: "g++" }, // relay-native's addon, built by node-gyp at npm ci
  { program: "make", pkg: "make" },
  { program: "python3", pkg: "python3" }, // node-gyp's gyp
  { program: "prlimit", pkg: "util-linux" }, // fd-limit tests
  { program: "setpriv", pkg: "util-linux" }, // children die with the test (--pdeathsig)
  { program: "unshare", pkg: "util-linux" }, // the fuzz smoke test's network namespace
  { program: "ip", pkg: "iproute2" },
  { program: "haproxy", pkg: "haproxy" }, // the load balancer in front of gatehouse (PROXY protocol)
  { program: "systemd-analyze", pkg: "systemd" }, // verifies examples/deploy/gatehouse.service
  { program: "chromium", pkg: "chromium" }, // the status page's browser test (playwright-core)
];

/** Headers the compiled C program includes (cc alone does not bring them), and Python modules tests import. */
const REQUIRED_FILES = [
  { file: "/usr/include/netdb.h", pkg: "libc6-dev" },
  // PySocks, the UDP ASSOCIATE client the udp test runs under Debian's /usr/bin/python3.
  { file: "/usr/lib/python3/dist-packages/socks.py", pkg: "python3-socks" },
];

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The folders searched for a program: PATH, and beside each …/bin its …/sbin (Debian keeps slapd
 * in /usr/sbin, which a normal user's PATH lacks).
 */
function searchFolders(path) {
  const folders = path.split(delimiter).filter((folder) => folder !== "");
  const sbins = folders.filter((folder) => folder.endsWith("/bin")).map((folder) => join(dirname(folder), "sbin"));
  return [...new Set([...folders, ...sbins])];
}

/** The Debian packages to install, in a stable order; empty when nothing is missing. */
export function missingPackages(path = process.env.PATH ?? "") {
  const folders = searchFolders(path);
  const missing = new Set();
  for (const { program, pkg } of REQUIRED_PROGRAMS) {
    if (!folders.some((folder) => isExecutable(join(folder, program)))) missing.add(pkg);
  }
  for (const { file, pkg } of REQUIRED_FILES) if (!existsSync(file)) missing.add(pkg);
  return [...missing].sort();
}

/** The one line a newcomer needs, or undefined when nothing is missing. */
export function preflightLine(path) {
  const missing = missingPackages(path);
  if (missing.length === 0) return undefined;
  return `missing programs the backends and e2e tests run; install them with: sudo apt-get install -y ${missing.join(" ")}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const line = preflightLine();
  if (line !== undefined) {
    console.error(line);
    process.exit(1);
  }
}
