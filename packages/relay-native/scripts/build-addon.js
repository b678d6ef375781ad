#!/usr/bin/env node
// Builds the splice relay addon with node-gyp, offline, and never fails the caller: on any
// failure it prints one line with the reason and exits 0, so `npm ci` and `npm run build`
// go on and the package reports `available: false` at run time (the JS relay is used).
//
// node-gyp downloads Node's headers into ~/.cache/node-gyp unless given --nodedir. Node's own
// installs (the nodejs.org tarballs, the NodeSource and Debian packages) ship them under
// <prefix>/include/node next to <prefix>/bin/node, so that prefix is passed when it has them.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");

function fail(reason) {
  console.log(`@gatehouse-proxy/relay-native: addon not built (${reason}); the JS relay will be used`);
  process.exit(0);
}

if (process.platform !== "linux") fail(`splice(2) is Linux only, this is ${process.platform}`);

let nodeGyp;
try {
  nodeGyp = createRequire(join(packageDir, "package.json")).resolve("node-gyp/bin/node-gyp.js");
} catch {
  fail("node-gyp is not installed");
}

const prefix = dirname(dirname(process.execPath));
const args = [nodeGyp, "rebuild"];
if (existsSync(join(prefix, "include", "node", "common.gypi"))) args.push(`--nodedir=${prefix}`);

const result = spawnSync(process.execPath, args, { cwd: packageDir, encoding: "utf8" });
if (result.error) fail(result.error.message);
if (result.status !== 0) {
  const output = `${result.stdout}\n${result.stderr}`;
  const firstError =
    output
      .split("\n")
      .find((line) => /error|not found|ERR!.*(stack|find)/i.test(line) && !line.includes("spawn args")) ??
    `node-gyp exited with ${result.status}`;
  fail(firstError.trim());
}
console.log("@gatehouse-proxy/relay-native: splice relay addon built");
