import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** packages/server/dist-test/helpers → the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const SERVER_DIR = join(REPO_ROOT, "packages", "server");
export const CLI = join(SERVER_DIR, "dist", "cli.js");
/** Under the repo, so fixture plugins resolve @gatehouse-proxy/core through its node_modules. */
export const FIXTURES_ROOT = join(SERVER_DIR, "test-fixtures-tmp");
