import "reflect-metadata";
import { hashPassword } from "@gatehouse-proxy/core";
import { providerComplianceSuite, providerFromPlugin, recordingLogger } from "@gatehouse-proxy/plugin-testkit";
import { describe, it } from "node:test";
import plugin from "@gatehouse-proxy/auth-static";
import { FAST } from "../fixtures.js";

const alice = await hashPassword("correct horse battery", FAST);
const logger = recordingLogger();

describe("auth-static passes the provider compliance suite", () => {
  providerComplianceSuite(
    it,
    providerFromPlugin(
      plugin,
      { users: { alice: { password: alice, groups: ["staff", "vpn"], identity: "alice@corp" } } },
      { logger },
    ),
    {
      valid: {
        username: "alice",
        password: "correct horse battery",
        expect: { identity: "alice@corp", groups: ["vpn", "staff"] },
      },
      wrongPassword: "Correct horse battery",
      unknownUser: "mallory",
      // A users_file that is gone: init() fails to load it, without quoting anyone's password.
      brokenFactory: providerFromPlugin(plugin, { users_file: "./users-file-that-does-not-exist.yaml" }, { logger }),
      logs: () => logger.lines,
    },
  );
});
