// A policy of `count` rules that all have to be evaluated for the benchmark's requests
// (client 127.0.0.1 → echod on 127.0.0.1): each rule's command and client network match, then
// its three destinations (an IPv4 network with a port, a *.domain, an IPv6 network) do not,
// so evaluation walks every rule to the `allow` default. The worst case for a first-match list.
export function benchPolicy(count) {
  const rules = Array.from({ length: count }, (_, i) => ({
    name: `bench-${String(i)}`,
    action: "deny",
    command: "connect",
    from: ["127.0.0.0/8", "::1/128"],
    to: [`10.${String(i % 256)}.0.0/16:25`, `*.blocked-${String(i)}.test`, `[2001:db8:${i.toString(16)}::/48]:443`],
  }));
  return { default: "allow", rules };
}
