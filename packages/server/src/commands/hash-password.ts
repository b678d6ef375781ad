import { hashPassword } from "@gatehouse-proxy/core";
import { GatehouseError } from "@gatehouse-proxy/core";
import { readPassword } from "./read-password.js";

/** Prints the self-describing record of `hashPassword` (@gatehouse-proxy/core) for a password read from stdin. */
export async function hashPasswordCommand(out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const password = await readPassword();
  if (password === "") throw new GatehouseError("GH_CLI_BAD_PASSWORD", "hash-password: empty password");
  if (password.endsWith("\0"))
    throw new GatehouseError("GH_CLI_BAD_PASSWORD", "hash-password: a password cannot end with a NUL character");
  out.write(`${await hashPassword(password)}\n`);
}
