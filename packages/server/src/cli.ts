#!/usr/bin/env node
import "reflect-metadata";
import { parseCommand } from "./commands/args.js";
import { asGatehouseError, formatError } from "./commands/error-report.js";

// Each command's module is imported only when that command runs: the server's dependencies
// (prom-client, pino, the engine, the plugins) cost ~0.5 s of CPU to load, which `--version`,
// `check-config` or `users` should not pay.
async function main(argv: readonly string[]): Promise<void> {
  const command = parseCommand(argv);
  switch (command.kind) {
    case "help":
      process.stdout.write((await import("./commands/help.js")).HELP);
      return;
    case "version":
      return (await import("./commands/version.js")).versionCommand();
    case "check-config":
      return (await import("./commands/check-config.js")).checkConfig(command.file);
    case "hash-password":
      return (await import("./commands/hash-password.js")).hashPasswordCommand();
    case "run-config":
      return (await import("./commands/run-command.js")).runConfigCommand(command.file, command.noSplice);
    case "run-flags":
      return (await import("./commands/run-command.js")).runFlagsCommand(
        command.listen,
        command.timeoutSeconds,
        command.noSplice,
      );
    case "users":
      return (await import("./commands/users.js")).usersCommand(command);
    case "sessions":
      return (await import("./commands/sessions.js")).sessionsCommand(command);
    case "policy-test":
      process.exitCode = await (await import("./commands/policy-test.js")).policyTestCommand(command);
      return;
    case "plugins-verify":
      return (await import("./commands/plugins.js")).pluginsVerifyCommand(command.target, command.config);
    case "plugins-list":
      return (await import("./commands/plugins.js")).pluginsListCommand(command.config);
  }
}

/** Prints the error with its code and exits with the status the code gives (docs/errors.md). */
function report(error: unknown): never {
  const failure = asGatehouseError(error);
  process.stderr.write(formatError(failure));
  process.exit(failure.exitStatus);
}

main(process.argv.slice(2)).catch(report);
