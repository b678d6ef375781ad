import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";

const SCRIPTS = fileURLToPath(new URL("../../../scripts/", import.meta.url));
const PREFLIGHT = join(SCRIPTS, "test-tiers", "preflight.js");
const GUARD = join(SCRIPTS, "test-tiers", "no-child-process.js");
const RUN_TESTS = join(SCRIPTS, "run-tests.js");

describe("test tiers: the preflight, the unit tier's guard and the file order", () => {
  const empty = mkdtempSync(join(tmpdir(), "gatehouse-preflight-"));
  after(() => rmSync(empty, { recursive: true, force: true }));

  it("without curl, slapd, redis-server… on PATH: one apt-get line and exit 1, at once", () => {
    const started = Date.now();
    const result = spawnSync(process.execPath, [PREFLIGHT], {
      encoding: "utf8",
      env: { PATH: join(empty, "bin") },
    });
    assert.equal(result.status, 1);
    assert.equal(result.stdout, "");
    const lines = result.stderr.split("\n").filter((line) => line !== "");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /sudo apt-get install -y (\S+ )*curl( \S+)*$/);
    for (const pkg of [
      "curl",
      "openssl",
      "redis-server",
      "slapd",
      "util-linux",
      "iproute2",
      "gcc",
      "haproxy",
      "chromium",
    ]) {
      assert.ok(lines[0]!.split(" ").includes(pkg), `${pkg} in: ${lines[0]!}`);
    }
    assert.ok(Date.now() - started < 10_000);
  });

  it("on this machine (which has them all, as CI does): silent, exit 0", () => {
    const result = spawnSync(process.execPath, [PREFLIGHT], { encoding: "utf8" });
    assert.equal(result.stderr, "");
    assert.equal(result.status, 0);
  });

  it("the unit tier's preload makes starting a child process throw, naming the tiers to use", () => {
    const script = 'require("node:child_process").spawnSync("true")';
    const guarded = spawnSync(process.execPath, ["--import", GUARD, "-e", script], { encoding: "utf8" });
    assert.notEqual(guarded.status, 0);
    assert.match(guarded.stderr, /unit tier: child_process\.spawnSync\(\) is not allowed.*backends or e2e tier/);
    const esm = spawnSync(
      process.execPath,
      [
        "--import",
        GUARD,
        "--input-type=module",
        "-e",
        'import { execFile } from "node:child_process"; execFile("true");',
      ],
      { encoding: "utf8" },
    );
    assert.match(esm.stderr, /child_process\.execFile\(\) is not allowed/);
    const free = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    assert.equal(free.status, 0, free.stderr);
  });

  it("run-tests starts the longest files first by their recorded seconds; an unknown file counts as 10 s", () => {
    const script = [
      `import { longestFirst } from ${JSON.stringify(pathToFileURL(RUN_TESTS).href)};`,
      'const order = longestFirst(["a.test.js", "b.test.js", "c.test.js", "d.test.js"], { "a.test.js": 1, "b.test.js": 30, "d.test.js": 12 });',
      "console.log(JSON.stringify(order));",
    ].join("\n");
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ["b.test.js", "d.test.js", "c.test.js", "a.test.js"]);
  });
});
