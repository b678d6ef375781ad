// Destination names through the engine, as a property (fast-check): whatever bytes a client
// sends as an ATYP 3 name, a name the validator refuses is answered 04 and never reaches the
// resolver, and a name it accepts reaches the resolver exactly in its checked form (lower
// case, no trailing dot) — over real sockets to an in-process proxy whose resolver records
// every call and answers NXDOMAIN.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { DnsLookupError, Reply, interpretDestinationName } from "@gatehouse-proxy/core/engine";
import type { HostResolver } from "@gatehouse-proxy/core";
import { startProxy } from "../helpers/proxy.js";
import type { TestProxy } from "../helpers/proxy.js";
import { connectTcp, negotiateNoAuth, readReply } from "../helpers/socks-tunnel.js";

const GRAMMAR = /^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$/;
const RUNS = Number(process.env.FC_RUNS ?? 300);

describe("destination names: refused names never reach the resolver (property, real sockets)", () => {
  const asked: string[] = [];
  let proxy: TestProxy;
  before(async () => {
    const resolveHost: HostResolver = (host) => {
      asked.push(host);
      return Promise.reject(new DnsLookupError("ENOTFOUND", host));
    };
    // Names that turn out to be addresses (`12.34` is 12.0.0.34) are denied, never dialled off the machine.
    proxy = await startProxy({
      resolveHost,
      policy: { default: "allow", rules: [{ action: "deny", to: ["0.0.0.0/0", "::/0"] }] },
    });
  });
  after(async () => {
    await proxy.close();
  });

  /** Sends CONNECT with `name` as ATYP 3 and returns the reply code. */
  async function connectByName(name: Uint8Array): Promise<number> {
    const socket = await connectTcp(proxy.port);
    try {
      await negotiateNoAuth(socket);
      socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([0, 80])]));
      return (await readReply(socket)).code;
    } finally {
      socket.destroy();
    }
  }

  const label = fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/);
  const name = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 255 }),
    fc.array(label, { minLength: 1, maxLength: 4 }).chain((labels) =>
      fc
        .tuple(fc.nat({ max: labels.join(".").length }), fc.integer({ min: 0, max: 255 }), fc.boolean())
        .map(([at, byte, insert]) => {
          const text = Buffer.from(labels.join("."));
          const middle = insert ? Buffer.from([byte]) : Buffer.alloc(0);
          return Buffer.concat([text.subarray(0, at), middle, text.subarray(at)]);
        }),
    ),
  );

  it(`${String(RUNS)} generated names: refused → 04 and no lookup; accepted → one lookup of the checked form`, async () => {
    let refused = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(name, async (bytes) => {
        const before = asked.length;
        const verdict = interpretDestinationName(bytes);
        const code = await connectByName(bytes);
        const lookups = asked.slice(before);
        if (verdict.kind === "refused") {
          refused++;
          assert.equal(code, Reply.HostUnreachable);
          assert.deepEqual(lookups, [], "a refused name reached the resolver");
        } else if (verdict.kind === "name") {
          accepted++;
          assert.equal(code, Reply.HostUnreachable, "NXDOMAIN from the recording resolver");
          assert.deepEqual(lookups, [verdict.host]);
          assert.match(verdict.host, GRAMMAR);
        } else {
          assert.ok(code === Reply.NotAllowedByRuleset || code === Reply.HostUnreachable, `reply ${String(code)}`);
          assert.deepEqual(lookups, [], "an address is not looked up");
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(refused > RUNS / 10 && accepted > RUNS / 10, `refused ${String(refused)}, accepted ${String(accepted)}`);
  });
});
