import { GatehouseError } from "@gatehouse-proxy/core";
import type { CodedProblem } from "@gatehouse-proxy/core/engine";

/** A config error listing every problem; its code is the first problem's. */
export function configError(problems: readonly CodedProblem[]): GatehouseError {
  return new GatehouseError(
    problems[0]?.code ?? "GH_CONFIG_INVALID_VALUE",
    problems.map((entry) => entry.problem),
  );
}
