// Login benchmark module for @gatehouse-proxy/auth-lua: the seed's AuthInfo example
// (examples/policy.lua, KumoMTA's proxy_server_auth_rfc1929 documentation) run unmodified in
// the sandboxed fengari worker pool. The script has one user, so every login is proxyuser.
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { URL, fileURLToPath } from "node:url";

const POLICY = fileURLToPath(new URL("../../examples/policy.lua", import.meta.url));

export async function setup({ tmpDir }) {
  const script = join(tmpDir, "policy.lua");
  await copyFile(POLICY, script);
  return {
    provider: { use: "lua", script },
    users: [{ username: "proxyuser", password: "secretpassword" }],
    note: "examples/policy.lua (the seed's second example), 2 fengari workers",
    close: async () => {},
  };
}
