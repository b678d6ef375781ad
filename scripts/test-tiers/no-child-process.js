// Preloaded (--import) into every unit-tier test process: starting a child process throws, so a
// test that needs one (a backend, curl, openssl, the real gatehouse) fails loudly in the unit tier
// instead of quietly making it slow. Such a test belongs in test/backends or test/e2e.
import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const childProcess = require("node:child_process");

// The `node --test` parent spawns the test files; only those child processes are guarded.
if (!process.execArgv.includes("--test")) {
  for (const name of ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"]) {
    childProcess[name] = () => {
      throw new Error(
        `unit tier: child_process.${name}() is not allowed here; a test that starts a process ` +
          "belongs in the backends or e2e tier (see docs/testing.md)",
      );
    };
  }
  syncBuiltinESMExports();
}
