#!/usr/bin/env node
import "reflect-metadata";
import { parseCommand } from "./commands/args.js";
import { checkConfig } from "./commands/check-config.js";
import { asGatehouseError, formatError } from "./commands/error-report.js";
import { hashPasswordCommand } from "./commands/hash-password.js";
import { HELP } from "./commands/help.js";
import { policyTestCommand } from "./commands/policy-test.js";
import { pluginsListCommand, pluginsVerifyCommand } from "./commands/plugins.js";
import { runConfigCommand, runFlagsCommand } from "./commands/run-command.js";
import { usersCommand } from "./commands/users.js";
import { serverVersion } from "./plugins/host-version.js";

async function main(argv: readonly string[]): Promise<void> {
  const command = parseCommand(argv);
  switch (command.kind) {
    case "help":
      process.stdout.write(HELP);
      return;
    case "version":
      process.stdout.write(`gatehouse ${serverVersion()}\n`);
      return;
    case "check-config":
      return checkConfig(command.file);
    case "hash-password":
      return hashPasswordCommand();
    case "run-config":
      return runConfigCommand(command.file);
    case "run-flags":
      return runFlagsCommand(command.listen, command.timeoutSeconds);
    case "users":
      return usersCommand(command);
    case "policy-test":
      process.exitCode = await policyTestCommand(command);
      return;
    case "plugins-verify":
      return pluginsVerifyCommand(command.target, command.config);
    case "plugins-list":
      return pluginsListCommand(command.config);
  }
}

/** Prints the error with its code and exits with the status the code gives (docs/errors.md). */
function report(error: unknown): never {
  const failure = asGatehouseError(error);
  process.stderr.write(formatError(failure));
  process.exit(failure.exitStatus);
}

main(process.argv.slice(2)).catch(report);
