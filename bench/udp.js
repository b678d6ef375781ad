// Runs bench/udp-load.js on the load CPU against one subject; resolves like runSocksbench does.
import { join } from "node:path";
import { forget, startProcess, stopProcess } from "./procs.js";
import { repoRoot } from "./socksbench.js";

/** `{ exitCode, result, killedByDeadline, stderrTail }` of one UDP load run. */
export async function runUdpLoad({ cpu, proxyPort, options, subject }) {
  const target = subject.direct ? ["--direct"] : ["--proxy", `127.0.0.1:${String(proxyPort)}`];
  const record = startProcess({
    name: "udp-load",
    argv: [
      process.execPath,
      join(repoRoot, "bench", "udp-load.js"),
      ...target,
      ...["--seconds", String(options.t), "--warmup", String(options.W)],
      ...["--window", String(options.window), "--size", String(options.size)],
    ],
    cpu,
    pipeStdout: true,
    pipeStderr: true,
  });
  let stdout = "";
  let stderr = "";
  record.child.stdout.setEncoding("utf8").on("data", (text) => (stdout += text));
  record.child.stderr.setEncoding("utf8").on("data", (text) => (stderr += text));
  let killedByDeadline = false;
  const deadline = setTimeout(
    () => {
      killedByDeadline = true;
      void stopProcess(record);
    },
    (options.t + options.W + 30) * 1000,
  );
  const exitCode = await new Promise((resolve) => record.child.once("exit", (code) => resolve(code)));
  clearTimeout(deadline);
  forget(record);
  let result;
  try {
    result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
  } catch {
    result = undefined;
  }
  return { exitCode, result, killedByDeadline, stderrTail: stderr.trim().split("\n").slice(-5) };
}
