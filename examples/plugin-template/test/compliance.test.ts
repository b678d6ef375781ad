import "reflect-metadata";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hashPassword } from "@gatehouse-proxy/core";
import { providerComplianceSuite, providerFromPlugin, recordingLogger } from "@gatehouse-proxy/plugin-testkit";
import plugin from "gatehouse-plugin-example";

const dir = await mkdtemp(join(tmpdir(), "gatehouse-plugin-example-"));
// Cheap scrypt parameters: these tests are about behaviour, not KDF cost.
const record = await hashPassword("correct horse battery", { ln: 10, r: 8, p: 1 });
await writeFile(join(dir, "users.passwd"), `# name:record:groups\nalice:${record}:staff,vpn\n`);
// Keeps what the provider logs: the suite fails if a password shows up in it.
const logger = recordingLogger();
const options = { configDir: dir, logger };

describe("gatehouse-plugin-example passes the Gatehouse provider compliance suite", () => {
  after(() => rm(dir, { recursive: true, force: true }));
  providerComplianceSuite(it, providerFromPlugin(plugin, { file: "users.passwd" }, options), {
    valid: { username: "alice", password: "correct horse battery", expect: { groups: ["staff", "vpn"] } },
    wrongPassword: "Correct Horse Battery",
    unknownUser: "mallory",
    // A users file that is not there: the provider must fail (init throws), never quietly deny.
    brokenFactory: providerFromPlugin(plugin, { file: "missing.passwd" }, options),
    logs: () => logger.lines,
  });
});
