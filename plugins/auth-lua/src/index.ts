import { definePlugin } from "@gatehouse-proxy/core";
import { resolve } from "node:path";
import { chunkNameOf, readScript, syntaxError } from "./compile-check.js";
import { luaConfigSchema } from "./config.js";
import { LuaProvider } from "./lua-provider.js";

export { LuaProvider, LuaScriptError } from "./lua-provider.js";
export { luaConfigSchema } from "./config.js";
export type { LuaConfig } from "./config.js";
export { LuaCallError } from "./worker-pool.js";

/** `use: lua` — a KumoMTA-compatible policy script (`script: policy.lua`). */
export default definePlugin({
  name: "@gatehouse-proxy/auth-lua",
  gatehouse: "^0.1",
  configSchema: luaConfigSchema,
  /** check-config and reload: the script must exist and compile (it is not run here). */
  async validate(config, context) {
    const file = resolve(context.configDir, config.script);
    const read = await readScript(file);
    if ("problem" in read) return [`script: ${read.problem}`];
    const problem = syntaxError(read.source, chunkNameOf(file));
    return problem === undefined ? [] : [`script: ${problem}`];
  },
  provider: LuaProvider,
});
