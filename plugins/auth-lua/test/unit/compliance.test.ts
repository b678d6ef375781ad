import "reflect-metadata";
import { providerComplianceSuite, providerFromPlugin, recordingLogger } from "@gatehouse-proxy/plugin-testkit";
import { after, describe, it } from "node:test";
import plugin from "@gatehouse-proxy/auth-lua";
import { REPO_ROOT, scriptDir } from "../helpers.js";

const logger = recordingLogger();
const scripts = scriptDir();

// A real broken backend for this provider: the handler raises a Lua error on every call. The
// message quotes the password, so the check also proves the error and the log are redacted.
scripts.write(
  "broken.lua",
  `kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
  error('the policy database is unreachable (user ' .. username .. ', password ' .. password .. ')')
end)
`,
);
// A handler that never answers on its own: the instruction budget and the clock are set far
// beyond the suite's abort deadline, so only the abort can settle the call.
scripts.write(
  "stalled.lua",
  `kumo.on('proxy_server_auth_rfc1929', function(username, password, conn_meta)
  while true do end
end)
`,
);

after(() => scripts.remove());

describe("auth-lua passes the provider compliance suite (examples/policy.lua in real fengari workers)", () => {
  providerComplianceSuite(
    it,
    providerFromPlugin(plugin, { script: "examples/policy.lua" }, { configDir: REPO_ROOT, logger }),
    {
      valid: {
        username: "proxyuser",
        password: "secretpassword",
        expect: { identity: "proxyuser", groups: ["proxy-users", "premium-tier"] },
      },
      wrongPassword: "Secretpassword",
      unknownUser: "mallory",
      brokenFactory: providerFromPlugin(plugin, { script: "broken.lua" }, { configDir: scripts.path, logger }),
      stalledFactory: providerFromPlugin(
        plugin,
        { script: "stalled.lua", instruction_limit: 1_000_000_000, call_timeout: "60s" },
        { configDir: scripts.path, logger },
      ),
      logs: () => logger.lines,
    },
  );
});
