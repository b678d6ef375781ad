import assert from "node:assert/strict";
import { verifyPassword } from "@gatehouse-proxy/core";
import { describe, it } from "node:test";
import { nativeRelay } from "@gatehouse-proxy/relay-native";
import { runCli } from "../helpers/cli.js";

describe("gatehouse commands", () => {
  it("--version prints the version and the relay that would run (splice when the addon is built)", async () => {
    const result = await runCli(["--version"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^gatehouse \d+\.\d+\.\d+\n/);
    const expected = nativeRelay.available ? /^relay: splice \(/m : /^relay: js \(the splice addon: /m;
    assert.match(result.stdout, expected);
  });

  it("--help shows usage with examples", async () => {
    const result = await runCli(["--help"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /check-config FILE/);
    assert.match(result.stdout, /Examples:/);
  });

  // Unknown flags and commands (exit 2, GH_CLI_USAGE) and an empty password for hash-password
  // (exit 2, GH_CLI_BAD_PASSWORD): error-codes.test.ts.
  it("no arguments is a usage error (exit 2)", async () => {
    assert.equal((await runCli([])).code, 2);
  });

  it("hash-password prints a record that verifyPassword accepts", async () => {
    const result = await runCli(["hash-password"], { input: "secretpassword\n" });
    assert.equal(result.code, 0, result.stderr);
    const record = result.stdout.trim();
    assert.doesNotMatch(record, /secretpassword/);
    assert.equal(await verifyPassword("secretpassword", record), true);
    assert.equal(await verifyPassword("secretpassworD", record), false);
  });
});
