import { ERROR_CODES, GatehouseError } from "@gatehouse-proxy/core";
import type { GatehouseErrorCode } from "@gatehouse-proxy/core";

/** Anything thrown, as a GatehouseError: what is not one already is GH_INTERNAL (a bug), the original as its cause. */
export function asGatehouseError(error: unknown): GatehouseError {
  if (error instanceof GatehouseError) return error;
  return new GatehouseError("GH_INTERNAL", error instanceof Error ? error.message : String(error), { cause: error });
}

/** A problem of the config file (`config` and `plugin` codes), reported under "invalid configuration". */
export function isConfigProblem(code: GatehouseErrorCode): boolean {
  const { family } = ERROR_CODES[code];
  return family === "config" || family === "plugin";
}

/** What the CLI prints for a failed command: `gatehouse: error CODE: ...`, a config error's problems one per line. */
export function formatError(error: GatehouseError): string {
  const head = `gatehouse: error ${error.code}: `;
  if (isConfigProblem(error.code)) {
    return `${head}invalid configuration:\n${error.problems.map((line) => `  ${line}\n`).join("")}`;
  }
  if (error.code === "GH_INTERNAL" && error.cause instanceof Error)
    return `${head}${error.cause.stack ?? error.message}\n`;
  return `${head}${error.problems.join("\n")}\n`;
}
