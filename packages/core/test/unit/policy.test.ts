import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectionLimits } from "../../dist/policy/limits.js";
import {
  PolicyConfigError,
  compileListenerPolicies,
  evaluatePolicy,
  evaluatePolicyBeforeLookup,
  evaluatePolicyForAnyDestination,
  isUnspecifiedAddress,
  parseCidr,
  parseDestination,
  parseIp,
  parseSource,
  sourcePortNamed,
} from "@gatehouse-proxy/core/policy";
import { cidrContains } from "../../dist/policy/cidr.js";
import { destinationMatches } from "../../dist/policy/destination.js";
import type { PolicyOptions, PolicyRequest } from "@gatehouse-proxy/core/policy";

const inCidr = (cidr: string, address: string): boolean => cidrContains(parseCidr(cidr), parseIp(address)!);

describe("policy: addresses and networks", () => {
  it("parses IPv4, IPv6 (compressed, embedded IPv4, zone) and treats IPv4-mapped IPv6 as IPv4", () => {
    assert.deepEqual(parseIp("192.0.2.1"), { v4: true, w0: 0, w1: 0, w2: 0, w3: 0xc0000201 });
    assert.deepEqual(parseIp("::ffff:192.0.2.1"), parseIp("192.0.2.1"));
    assert.deepEqual(parseIp("2001:db8::1"), { v4: false, w0: 0x20010db8, w1: 0, w2: 0, w3: 1 });
    assert.deepEqual(parseIp("1:2:3:4:5:6:7:8"), { v4: false, w0: 0x10002, w1: 0x30004, w2: 0x50006, w3: 0x70008 });
    assert.deepEqual(parseIp("::"), { v4: false, w0: 0, w1: 0, w2: 0, w3: 0 });
    assert.deepEqual(parseIp("fe80::1%eth0"), { v4: false, w0: 0xfe800000, w1: 0, w2: 0, w3: 1 });
    assert.deepEqual(parseIp("64:ff9b::192.0.2.33"), { v4: false, w0: 0x0064ff9b, w1: 0, w2: 0, w3: 0xc0000221 });
    assert.deepEqual(parseIp("0.0.0.0"), { v4: true, w0: 0, w1: 0, w2: 0, w3: 0 });
    assert.deepEqual(parseIp("255.255.255.255"), { v4: true, w0: 0, w1: 0, w2: 0, w3: 0xffffffff });
    for (const bad of ["01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.", "1.2.3.256", "", ":", "1.2.3.4 "]) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    assert.equal(parseIp("example.com"), undefined);
    assert.equal(parseIp("256.1.1.1"), undefined);
  });

  it("matches CIDRs at every prefix boundary, per family", () => {
    assert.ok(inCidr("10.0.0.0/8", "10.255.255.255"));
    assert.ok(!inCidr("10.0.0.0/8", "11.0.0.0"));
    assert.ok(inCidr("192.168.1.0/24", "192.168.1.255"));
    assert.ok(!inCidr("192.168.1.0/24", "192.168.2.0"));
    assert.ok(inCidr("128.0.0.0/1", "255.1.1.1"));
    assert.ok(!inCidr("128.0.0.0/1", "127.255.255.255"));
    assert.ok(inCidr("0.0.0.0/0", "1.2.3.4"));
    assert.ok(inCidr("203.0.113.7", "203.0.113.7"));
    assert.ok(!inCidr("203.0.113.7", "203.0.113.8"));
    assert.ok(inCidr("10.1.2.3/8", "10.9.9.9"), "host bits in the network are masked off");
    assert.ok(inCidr("2001:db8::/32", "2001:db8:ffff:ffff::1"));
    assert.ok(!inCidr("2001:db8::/32", "2001:db9::"));
    assert.ok(inCidr("2001:db8:0:1::/63", "2001:db8:0:0::5"));
    assert.ok(!inCidr("2001:db8:0:2::/63", "2001:db8:0:1::5"));
    assert.ok(inCidr("::/0", "::1"));
    assert.ok(!inCidr("::/0", "127.0.0.1"), "an IPv6 network never matches an IPv4 address");
    assert.ok(!inCidr("0.0.0.0/0", "::1"));
    assert.ok(inCidr("::1", "::1"));
    assert.ok(inCidr("::ffff:10.0.0.0/104", "10.200.0.1"), "IPv4-mapped networks are IPv4 networks");
    assert.ok(inCidr("127.0.0.0/8", "::ffff:127.0.0.1"));
    for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "host", "::ffff:0:0/95", "fe80::1%eth0"]) {
      assert.throws(() => parseCidr(bad), RangeError, bad);
    }
  });

  it("destinations: networks with ports and ranges, names, wildcards, any", () => {
    const view = (host: string | undefined, address: string | undefined, port: number) => ({
      host,
      address: address === undefined ? undefined : parseIp(address),
      port,
    });
    const match = (pattern: string, host: string | undefined, address: string | undefined, port: number): boolean =>
      destinationMatches(parseDestination(pattern), view(host, address, port));
    assert.ok(match("0.0.0.0/0:25", undefined, "198.51.100.1", 25));
    assert.ok(!match("0.0.0.0/0:25", undefined, "198.51.100.1", 26));
    assert.ok(match("10.1.2.3:8000-8100", "name.test", "10.1.2.3", 8100), "CIDR entries match a name's address");
    assert.ok(!match("10.1.2.3:8000-8100", undefined, "10.1.2.3", 8101));
    assert.ok(match("[2001:db8::/32]:443", undefined, "2001:db8::9", 443));
    assert.ok(match("2001:db8::1", undefined, "2001:db8::1", 1));
    assert.ok(match("*.example.com:443", "a.b.example.com", "192.0.2.1", 443));
    assert.ok(!match("*.example.com:443", "example.com", "192.0.2.1", 443));
    assert.ok(!match("*.example.com:443", "badexample.com", "192.0.2.1", 443));
    assert.ok(!match("*.example.com", undefined, "192.0.2.1", 443), "names never match an IP literal request");
    assert.ok(match("Mail.Example.COM.", "mail.example.com", undefined, 25));
    assert.ok(!match("mail.example.com", "smtp.example.com", undefined, 25));
    assert.ok(match("*", undefined, "192.0.2.1", 1));
    assert.ok(match("*:25", "x.test", undefined, 25));
    assert.ok(!match("*:25", "x.test", undefined, 587));
    for (const bad of [
      "a*b.com",
      "*.",
      "foo..com",
      "1.2.3.4:70000",
      "1.2.3.4:90-80",
      "[::1",
      "[::1]x",
      "-a.com",
      "1.2.3",
    ]) {
      assert.throws(() => parseDestination(bad), RangeError, bad);
    }
  });
});

describe("policy: compile and evaluate", () => {
  const request = (overrides: Partial<PolicyRequest>): PolicyRequest => ({
    identities: ["bob"],
    groups: [],
    authenticated: true,
    client: parseIp("127.0.0.1"),
    command: "connect",
    host: undefined,
    address: parseIp("192.0.2.1"),
    port: 443,
    source: undefined,
    ...overrides,
  });
  const compile = (policy: PolicyOptions | undefined, listener?: PolicyOptions) =>
    compileListenerPolicies(policy, [listener]);

  it("no policy anywhere → undefined (allow all); a block without default denies", () => {
    assert.deepEqual(compile(undefined), [undefined]);
    const [policy] = compile({ rules: [{ action: "allow", groups: ["staff"] }] });
    assert.equal(evaluatePolicy(policy!, request({})).allowed, false);
    assert.equal(evaluatePolicy(policy!, request({ groups: ["x", "staff"] })).allowed, true);
  });

  it("first match wins; every key of a rule must match; listener rules come first", () => {
    const [policy] = compile(
      {
        default: "allow",
        rules: [
          { name: "r0", action: "deny", identities: ["mallory"] },
          { name: "r1", action: "allow", identities: ["mallory"], to: ["*"] },
          { name: "r2", action: "deny", groups: ["g"], from: ["10.0.0.0/8"] },
          { name: "r3", action: "deny", command: ["bind"], source: ["192.0.2.0/24"] },
          { name: "r4", action: "deny", authenticated: false },
        ],
      },
      { default: "deny", rules: [{ name: "own", action: "allow", identities: ["alice"] }] },
    );
    const decide = (overrides: Partial<PolicyRequest>): string => {
      const decision = evaluatePolicy(policy!, request(overrides));
      return `${decision.allowed ? "allow" : "deny"}:${decision.rule?.label ?? "default"}:${String(decision.index)}`;
    };
    assert.equal(decide({ identities: ["mallory"] }), "deny:r0:1");
    assert.equal(decide({ identities: ["alice"] }), "allow:own:0");
    assert.equal(decide({ groups: ["g"] }), "deny:default:-1", "listener default deny overrides the top-level allow");
    assert.equal(decide({ groups: ["g"], client: parseIp("10.1.1.1") }), "deny:r2:3");
    assert.equal(decide({ command: "bind", source: parseIp("192.0.2.9"), address: undefined }), "deny:r3:4");
    assert.equal(decide({ authenticated: false, identities: [] }), "deny:r4:5");
    assert.equal(compile(undefined, { rules: [] })[0]!.defaultAllow, false);
  });

  it("before a lookup, the name alone decides only when no rule on the way depends on the address", () => {
    const [policy] = compile({
      default: "deny",
      rules: [
        { name: "no-internal", action: "deny", to: ["10.0.0.0/8", "127.0.0.0/8"] },
        { name: "partners", action: "allow", to: ["*.partner.example"] },
      ],
    });
    const [namesFirst] = compile({
      default: "deny",
      rules: [
        { name: "no-local", action: "deny", to: ["localhost", "*.internal"] },
        { name: "smtp-only", action: "deny", to: ["10.0.0.0/8:25"] },
        { name: "web", action: "allow", to: ["*.example.com:443"] },
        { name: "nets", action: "deny", to: ["192.0.2.0/24"] },
      ],
    });
    const before = (target: typeof policy, host: string, port = 443): string => {
      const decision = evaluatePolicyBeforeLookup(target!, request({ host, address: undefined, port }));
      return decision === undefined
        ? "lookup"
        : `${decision.allowed ? "allow" : "deny"}:${decision.rule?.label ?? "default"}`;
    };
    // A CIDR rule comes first: every name needs its address (the network rule may match it).
    assert.equal(before(policy, "a.partner.example"), "lookup");
    assert.equal(before(policy, "elsewhere.test"), "lookup");
    assert.equal(before(namesFirst, "localhost"), "deny:no-local");
    assert.equal(before(namesFirst, "db.internal"), "deny:no-local");
    // 10/8:25 cannot match port 443, so the name rule after it decides.
    assert.equal(before(namesFirst, "www.example.com"), "allow:web");
    assert.equal(before(namesFirst, "www.example.com", 25), "lookup");
    assert.equal(before(namesFirst, "other.test"), "lookup", "the 192.0.2.0/24 rule may still match");
    const [nameOnly] = compile({ default: "deny", rules: [{ action: "allow", to: ["*.example.com"] }] });
    assert.equal(before(nameOnly, "other.test"), "deny:default", "the default decides: no lookup");
    // Whenever it decides, the full evaluation after the lookup agrees, whatever the address.
    for (const address of ["10.1.1.1", "192.0.2.7", "127.0.0.1", "::1"]) {
      for (const host of ["localhost", "www.example.com"]) {
        const early = evaluatePolicyBeforeLookup(namesFirst!, request({ host, address: undefined }))!;
        const full = evaluatePolicy(namesFirst!, request({ host, address: parseIp(address) }));
        assert.deepEqual([full.allowed, full.index], [early.allowed, early.index]);
      }
    }
  });

  it("the unspecified addresses: 0.0.0.0/8, ::, and their IPv4-mapped form", () => {
    for (const address of ["0.0.0.0", "0.1.2.3", "::", "::ffff:0.0.0.0", "::0.0.0.0"]) {
      assert.ok(isUnspecifiedAddress(parseIp(address)!), address);
    }
    for (const address of ["1.0.0.0", "127.0.0.1", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:2"]) {
      assert.ok(!isUnspecifiedAddress(parseIp(address)!), address);
    }
  });

  it("a rule with `to` never matches a BIND; a `source` rule needs a source", () => {
    const [policy] = compile({
      default: "deny",
      rules: [
        { action: "allow", to: ["*"] },
        { action: "allow", source: ["127.0.0.1"] },
      ],
    });
    assert.equal(evaluatePolicy(policy!, request({ command: "bind", source: parseIp("127.0.0.2") })).allowed, false);
    assert.equal(evaluatePolicy(policy!, request({ command: "bind", source: parseIp("127.0.0.1") })).index, 1);
  });

  it("udp: `to` rules decide each datagram; an association is refused only when no destination could be allowed", () => {
    const [policy] = compile({
      default: "deny",
      rules: [
        { name: "no-dns-out", action: "deny", command: "udp", to: ["*:53"] },
        { name: "udp-to-lab", action: "allow", command: "udp", to: ["192.0.2.0/24"] },
        { name: "staff", action: "allow", groups: ["staff"] },
      ],
    });
    const udp = (overrides: Partial<PolicyRequest>) => request({ command: "udp", ...overrides });
    assert.equal(evaluatePolicy(policy!, udp({ port: 53 })).rule?.label, "no-dns-out");
    assert.equal(evaluatePolicy(policy!, udp({ port: 123 })).rule?.label, "udp-to-lab");
    assert.equal(evaluatePolicy(policy!, udp({ address: parseIp("198.51.100.1"), port: 123 })).allowed, false);
    assert.equal(evaluatePolicy(policy!, request({ port: 53 })).allowed, false, "a udp rule is not a connect rule");
    // The association: bob may reach 192.0.2.0/24, so it is allowed; its datagrams are decided one by one.
    const association = udp({ address: undefined, port: 0 });
    assert.equal(evaluatePolicyForAnyDestination(policy!, association).rule?.label, "udp-to-lab");
    const [closed] = compile({
      default: "allow",
      rules: [
        { action: "deny", command: "udp", to: ["*"] },
        { name: "no-udp-for-guests", action: "deny", command: "udp", groups: ["guests"] },
      ],
    });
    assert.equal(
      evaluatePolicyForAnyDestination(closed!, association).allowed,
      true,
      "a denying `to` rule denies only those",
    );
    const guest = udp({ address: undefined, port: 0, groups: ["guests"] });
    assert.equal(evaluatePolicyForAnyDestination(closed!, guest).rule?.label, "no-udp-for-guests");
    assert.equal(evaluatePolicyForAnyDestination(closed!, guest).allowed, false);
  });

  it("source entries: an optional :port or :low-high; without one any port matches, but none is named", () => {
    const [policy] = compile({
      default: "deny",
      rules: [
        { name: "deny-25", action: "deny", source: ["192.0.2.0/24:25"] },
        { name: "ranged", action: "allow", source: ["192.0.2.0/24:2000-2099", "[2001:db8::5]:587"] },
        { name: "any-port", action: "allow", source: ["192.0.2.0/24"] },
      ],
    });
    const at = (source: string, sourcePort: number): string => {
      const decision = evaluatePolicy(policy!, request({ command: "bind", source: parseIp(source), sourcePort }));
      return decision.rule?.label ?? "default";
    };
    assert.equal(at("192.0.2.7", 25), "deny-25");
    assert.equal(at("192.0.2.7", 2050), "ranged");
    assert.equal(at("2001:db8::5", 587), "ranged");
    assert.equal(at("192.0.2.7", 2100), "any-port");
    assert.equal(at("192.0.2.7", 0), "any-port");
    assert.equal(at("198.51.100.1", 0), "default");

    const ranged = policy!.rules[1]!.source;
    assert.equal(sourcePortNamed(ranged, parseIp("192.0.2.7")!, 2000), true);
    assert.equal(sourcePortNamed(ranged, parseIp("192.0.2.7")!, 2100), false);
    assert.equal(sourcePortNamed(ranged, parseIp("198.51.100.7")!, 2000), false);
    assert.equal(sourcePortNamed(policy!.rules[2]!.source, parseIp("192.0.2.7")!, 2100), false, "no port written");
    assert.deepEqual(
      { ...parseSource("10.0.0.0/8:1024-2047"), range: undefined },
      { range: undefined, portLow: 1024, portHigh: 2047, namesPort: true },
    );
    for (const bad of ["10.0.0.1:70000", "10.0.0.1:20-10", "host.example:25", "[::1", "10.0.0.1:x"]) {
      assert.throws(() => parseSource(bad), RangeError, bad);
    }
  });

  it("reports every problem with its path", () => {
    assert.throws(
      () =>
        compileListenerPolicies(
          {
            default: "perhaps" as "allow",
            max_connections_per_ip: -1,
            rules: [
              { action: "allow" },
              {
                action: "allow",
                identities: [],
                from: ["x"],
                command: ["connect", "tcp" as "bind"],
                extra: 1,
              } as never,
            ],
          },
          [{ max_connections_per_identity: 1 } as never],
        ),
      (error: unknown) => {
        assert.ok(error instanceof PolicyConfigError);
        assert.deepEqual(
          error.problems.map((line) => line.slice(0, line.indexOf(":"))),
          [
            "policy.default",
            "policy.max_connections_per_ip",
            "policy.rules[0]",
            "policy.rules[1].identities",
            "policy.rules[1].from[0]",
            "policy.rules[1].command[1]",
            "policy.rules[1].extra",
            "listeners[0].policy.max_connections_per_identity",
          ],
        );
        return true;
      },
    );
  });
});

describe("policy: connection limits", () => {
  it("counts per identity and per IP, frees on release", () => {
    const limits = new ConnectionLimits();
    const a = limits.tryAcquire("alice", "192.0.2.1", 2, 3);
    const b = limits.tryAcquire("alice", "192.0.2.1", 2, 3);
    assert.equal(limits.tryAcquire("alice", "192.0.2.2", 2, 3), "max_connections_per_identity");
    const c = limits.tryAcquire("bob", "192.0.2.1", 2, 3);
    assert.equal(limits.tryAcquire(undefined, "192.0.2.1", 2, 3), "max_connections_per_ip");
    assert.equal(limits.count("ip", "192.0.2.1"), 3);
    for (const slot of [a, b, c]) {
      assert.equal(typeof slot, "object");
      limits.release(slot as Exclude<typeof slot, string>);
    }
    assert.equal(limits.count("identity", "alice"), 0);
    assert.equal(limits.count("ip", "192.0.2.1"), 0);
    assert.equal(typeof limits.tryAcquire("alice", "192.0.2.1", 0, 0), "object", "0 = no limit");
  });
});
