import { definePlugin } from "@gatehouse-proxy/core";
import { configSchema } from "./config.js";
import { ExampleProvider } from "./provider.js";

export { configSchema } from "./config.js";
export type { ExampleConfig } from "./config.js";
export { ExampleProvider } from "./provider.js";

/** `use: gatehouse-plugin-example` in gatehouse.yaml loads this definition. */
export default definePlugin({
  name: "gatehouse-plugin-example",
  // The Gatehouse versions this plugin works with; the host refuses to load it otherwise.
  gatehouse: "^0.1",
  configSchema,
  // The host creates one ExampleProvider per configured instance, injecting what its
  // constructor asks for (Tokens.Config, Tokens.Context, Tokens.Logger, Tokens.Clock, ...).
  provider: ExampleProvider,
});
