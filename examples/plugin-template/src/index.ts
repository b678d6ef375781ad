import { Tokens, definePlugin } from "@gatehouse-proxy/core";
import { Lifecycle } from "tsyringe";
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
  register(container) {
    // The host has already registered Tokens.PluginConfig, PluginContext and Logger in this
    // instance's child container. One provider per instance, however often it is resolved.
    container.register(Tokens.AuthProvider, { useClass: ExampleProvider }, { lifecycle: Lifecycle.ContainerScoped });
  },
});
