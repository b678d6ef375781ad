import { policySummary } from "../wiring/policy-summary.js";
import { prepareFromFile } from "./prepare.js";

/** Validates a config file (plugins loaded, their schemas applied) without opening ports. */
export async function checkConfig(file: string, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const prepared = await prepareFromFile(file);
  const providers = prepared.plans.map((plan) => `${plan.instanceName} (${plan.plugin.name})`);
  out.write(
    `${file}: OK — ${String(prepared.listeners.length)} listener(s)` +
      (providers.length > 0 ? `, providers: ${providers.join(", ")}` : ", no auth providers") +
      `, ${policySummary(prepared)}` +
      (prepared.workers > 1 ? `, ${String(prepared.workers)} workers` : "") +
      (prepared.state?.store === "redis" ? `, state in Redis (on_store_error: ${prepared.state.on_store_error})` : "") +
      "\n",
  );
}
