// The fixed addresses of a fuzz run. Everything runs inside a private network namespace (see
// netns.js) where these ports are always free, so a case's bytes (which embed ports) are the
// same in every run and `--replay` reproduces them exactly.

export const PROXY_PORT = 10800;
/** The destination the policy allows (127.0.0.1 and ::1): an echo server. */
export const ALLOWED_PORT = 7007;
/**
 * The trap: any destination at this port is allowed by the policy except loopback, and the
 * namespace has nothing but loopback, so every connection the trap accepts broke the policy.
 */
export const TRAP_PORT = 2525;

export const USERNAME = "fuzzer";
/** Groups and names used by the policy below. */
export const PARTNER_SUFFIX = ".example.com";

/** What the local DNS server answers (everything else: NXDOMAIN). */
export const DNS_RECORDS = {
  "ok.example.com": { A: ["127.0.0.1"] },
  "v6.example.com": { AAAA: ["::1"] },
  "zero.example.com": { A: ["0.0.0.0"] },
  "far.example.com": { A: ["192.0.2.10"] },
  "far6.example.com": { AAAA: ["2001:db8::10"] },
  "mapped.example.com": { AAAA: ["::ffff:127.0.0.1"] },
  "lo.partner.test": { A: ["127.0.0.1"] },
};

/**
 * The policy under test, in the manner of docs/policy.md: loopback names are denied by name,
 * the local machine is denied at the trap port, partner names are allowed, the trap port is
 * open to "the internet" (which does not exist in the namespace: those dials fail with
 * ENETUNREACH), and only the echo server is allowed on loopback.
 */
export function policy() {
  return {
    default: "deny",
    rules: [
      { name: "no-localhost-names", action: "deny", to: ["localhost", "*.localhost"] },
      { name: "no-loopback-at-trap", action: "deny", to: [`127.0.0.0/8:${TRAP_PORT}`, `[::1/128]:${TRAP_PORT}`] },
      { name: "partners", action: "allow", to: [`*${PARTNER_SUFFIX}`] },
      { name: "trap-port-anywhere", action: "allow", to: [`0.0.0.0/0:${TRAP_PORT}`, `[::/0]:${TRAP_PORT}`] },
      { name: "echo", action: "allow", to: [`127.0.0.1:${ALLOWED_PORT}`, `[::1]:${ALLOWED_PORT}`] },
    ],
  };
}
