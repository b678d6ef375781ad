// Runs the compliance suite against the in-memory provider with the faults named in
// GATEHOUSE_FAULTS (comma-separated Faults keys); suite.test.ts spawns it with node --test.
import { describe, it } from "node:test";
import { providerComplianceSuite, recordingLogger } from "@gatehouse-proxy/plugin-testkit";
import { FIXTURES, memoryProvider } from "./in-memory.js";
import type { Faults } from "./in-memory.js";

const faults: Faults = Object.fromEntries(
  (process.env["GATEHOUSE_FAULTS"] ?? "")
    .split(",")
    .filter((name) => name !== "")
    .map((name) => [name, true]),
);

describe(`compliance suite against the in-memory provider (faults: ${Object.keys(faults).join(", ") || "none"})`, () => {
  const logger = recordingLogger();
  providerComplianceSuite(it, () => memoryProvider(faults, "healthy", logger), {
    ...FIXTURES,
    brokenFactory: () => memoryProvider(faults, "broken"),
    stalledFactory: () => memoryProvider(faults, "stalled"),
    logs: () => logger.lines,
  });
});
