import { serverVersion } from "../plugins/host-version.js";
import { chooseRelay, describeRelay } from "../wiring/relay-choice.js";

/** `gatehouse --version`: the version, and the relay `relay: auto` would run here. */
export async function versionCommand(): Promise<void> {
  const choice = await chooseRelay("auto");
  process.stdout.write(`gatehouse ${serverVersion()}\nrelay: ${describeRelay(choice)}\n`);
}
