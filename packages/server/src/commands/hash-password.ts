import { hashPassword } from "@gatehouse-proxy/core";
import { CliError, EXIT_CONFIG } from "./exit-codes.js";
import { readPassword } from "./read-password.js";

/** Prints the self-describing record of `hashPassword` (@gatehouse-proxy/core) for a password read from stdin. */
export async function hashPasswordCommand(out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const password = await readPassword();
  if (password === "") throw new CliError("hash-password: empty password", EXIT_CONFIG);
  if (password.endsWith("\0"))
    throw new CliError("hash-password: a password cannot end with a NUL character", EXIT_CONFIG);
  out.write(`${await hashPassword(password)}\n`);
}
