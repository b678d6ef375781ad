#!/usr/bin/env node
import "reflect-metadata";
import { DnsConfigError, ListenerConfigError, AuthConfigError } from "@gatehouse-proxy/core/engine";
import { ConfigError } from "./config/config-error.js";
import { parseCommand } from "./commands/args.js";
import { checkConfig } from "./commands/check-config.js";
import { CliError, EXIT_CONFIG } from "./commands/exit-codes.js";
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

function report(error: unknown): never {
  if (
    error instanceof ConfigError ||
    error instanceof ListenerConfigError ||
    error instanceof AuthConfigError ||
    error instanceof DnsConfigError
  ) {
    process.stderr.write(`gatehouse: invalid configuration:\n${error.problems.map((line) => `  ${line}\n`).join("")}`);
    process.exit(EXIT_CONFIG);
  }
  if (error instanceof CliError) {
    process.stderr.write(`gatehouse: ${error.message}\n`);
    process.exit(error.code);
  }
  process.stderr.write(`gatehouse: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}

main(process.argv.slice(2)).catch(report);
