/** A bad config or bad usage. */
export const EXIT_CONFIG = 2;
/** The config was fine but the server could not start. */
export const EXIT_STARTUP = 1;

/** An error the CLI reports as it is and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}
