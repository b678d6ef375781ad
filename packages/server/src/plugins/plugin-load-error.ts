export type PluginLoadErrorKind = "not_installed" | "load_failed" | "not_a_plugin" | "version_mismatch";

/** Why a `use:` could not become a plugin; the message names the config path. */
export class PluginLoadError extends Error {
  constructor(
    readonly kind: PluginLoadErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "PluginLoadError";
  }
}
