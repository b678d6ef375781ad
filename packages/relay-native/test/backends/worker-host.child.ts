// Child process for the worker test in native-relay.test.ts: runs two-tunnels.child.js in a
// worker thread (argv passed on) and terminates the worker once its tunnels run. This thread
// never loads the addon, so the worker was its only user. Prints `worker gone`; exits on a line
// on stdin.
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";

const worker = new Worker(new URL("./two-tunnels.child.js", import.meta.url), {
  argv: process.argv.slice(2),
  stdout: true,
});
const lines = createInterface({ input: worker.stdout })[Symbol.asyncIterator]();
const first = await lines.next();
if (first.value !== "relaying") throw new Error(`the worker's tunnels did not start: ${String(first.value)}`);
await worker.terminate();
process.stdout.write("worker gone\n");
createInterface({ input: process.stdin }).once("line", () => process.exit(0));
