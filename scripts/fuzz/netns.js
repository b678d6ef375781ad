// Runs the fuzzer in a private network namespace: random IPv4/IPv6 destinations are dialled
// by design (the policy allows the trap port anywhere), and in a namespace whose only
// interface is loopback they fail with ENETUNREACH instead of leaving the machine.
import { spawn } from "node:child_process";
import { networkInterfaces } from "node:os";

const MARK = "GATEHOUSE_FUZZ_NETNS";

export function insideNamespace() {
  return process.env[MARK] === "1";
}

/**
 * Re-runs this script under `unshare --user --map-root-user --net` (works unprivileged where
 * user namespaces are allowed, and as root), with loopback brought up by iproute2's `ip`.
 * Resolves with the inner run's exit code.
 */
export function reexecInNamespace(script, args) {
  const inner = ["ip link set lo up", 'exec "$0" "$@"'].join(" && ");
  const child = spawn(
    "unshare",
    ["--user", "--map-root-user", "--net", "sh", "-c", inner, process.execPath, script, ...args],
    {
      stdio: "inherit",
      env: { ...process.env, [MARK]: "1" },
    },
  );
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => {
    child.once("error", (error) => {
      console.error(`fuzz: cannot start unshare (${error.message}); install util-linux and iproute2`);
      resolve(2);
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Refuses to go on unless loopback is the only interface with an address (nothing can leave). */
export function assertIsolated() {
  const names = Object.keys(networkInterfaces());
  if (names.length !== 1 || names[0] !== "lo") {
    throw new Error(`fuzz: not in a private network namespace (interfaces: ${names.join(", ")}); refusing to dial`);
  }
}
