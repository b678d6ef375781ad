// Runs the fuzzer in a private network namespace: random IPv4/IPv6 destinations are dialled
// by design (the policy allows the trap port anywhere), and in a namespace whose only
// interface is loopback they fail with ENETUNREACH instead of leaving the machine.
import { spawn, spawnSync } from "node:child_process";
import { networkInterfaces } from "node:os";

const MARK = "GATEHOUSE_FUZZ_NETNS";

export function insideNamespace() {
  return process.env[MARK] === "1";
}

/**
 * `unshare` flags that give a new network namespace here: as root a plain `--net` (no user
 * namespace, which some container seccomp profiles forbid); otherwise, or when that fails, a
 * user namespace mapping us to root in it.
 */
function namespaceFlags() {
  const candidates = [["--net"], ["--user", "--map-root-user", "--net"]];
  if (process.getuid?.() !== 0) candidates.shift();
  for (const flags of candidates) {
    const probe = spawnSync("unshare", [...flags, "ip", "link", "set", "lo", "up"], { encoding: "utf8" });
    if (probe.status === 0) return flags;
  }
  return undefined;
}

/**
 * Re-runs this script in a new network namespace with loopback brought up by iproute2's `ip`.
 * Resolves with the inner run's exit code (2 when no namespace can be made).
 */
export function reexecInNamespace(script, args) {
  const flags = namespaceFlags();
  if (flags === undefined) {
    console.error(
      "fuzz: cannot create a network namespace (tried `unshare --net` and `unshare --user --map-root-user --net`," +
        " each running `ip link set lo up`); install util-linux and iproute2, allow user namespaces or run as root",
    );
    return Promise.resolve(2);
  }
  const inner = 'ip link set lo up && exec "$0" "$@"';
  const child = spawn("unshare", [...flags, "sh", "-c", inner, process.execPath, script, ...args], {
    stdio: "inherit",
    env: { ...process.env, [MARK]: "1" },
  });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => {
    child.once("error", (error) => {
      console.error(`fuzz: cannot start unshare (${error.message})`);
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
