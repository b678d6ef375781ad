/** A config that cannot be used: every problem, each naming its path (`auth.providers.corp.url: ...`). */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}
