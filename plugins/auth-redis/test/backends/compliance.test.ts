import "reflect-metadata";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { hashPassword } from "@gatehouse-proxy/core";
import type { AuthProvider } from "@gatehouse-proxy/core";
import { providerComplianceSuite, providerFromPlugin, recordingLogger } from "@gatehouse-proxy/plugin-testkit";
import plugin, { userKey } from "@gatehouse-proxy/auth-redis";
import { Redis } from "ioredis";
import { FAST } from "../helpers/fixtures.js";
import { startFaultRelay } from "../helpers/fault-relay.js";
import type { FaultRelay } from "../helpers/fault-relay.js";
import { startRedis } from "../helpers/redis-server.js";

const PASSWORD = "correct horse battery";

// The real backend, seeded the way `gatehouse users add` writes a user.
const redis = await startRedis();
const seed = new Redis(redis.url);
await seed.hset(userKey("gatehouse:user:", "alice"), {
  password: await hashPassword(PASSWORD, FAST),
  groups: JSON.stringify(["staff", "vpn"]),
  identity: "alice@corp",
});
seed.disconnect();

const logger = recordingLogger();
const options = { logger };
const relays: FaultRelay[] = [];

// A backend that crashes once the provider has started: the real server behind a relay that
// passes the handshake and init()'s PING, then closes every connection and stops listening.
// So init() succeeds and it is authenticate() and health() that must fail, as after an outage.
async function crashedBackendProvider(): Promise<AuthProvider> {
  const relay = await startFaultRelay(redis.port, { crashAfterReply: /\+PONG/ });
  relays.push(relay);
  return providerFromPlugin(
    plugin,
    { url: `redis://127.0.0.1:${String(relay.port)}`, connect_timeout: "1s", command_timeout: "1s" },
    options,
  )();
}

// A backend that never answers: the real server behind a relay that swallows every HGETALL. The
// long command_timeout leaves only the AbortSignal to end the call.
const stallRelay = await startFaultRelay(redis.port, { stallOn: /hgetall/i });
relays.push(stallRelay);

describe("auth-redis passes the provider compliance suite against a real redis-server", () => {
  after(async () => {
    for (const relay of relays) await relay.stop();
    await redis.stop();
  });

  providerComplianceSuite(it, providerFromPlugin(plugin, { url: redis.url }, options), {
    valid: { username: "alice", password: PASSWORD, expect: { identity: "alice@corp", groups: ["vpn", "staff"] } },
    wrongPassword: "Correct horse battery",
    unknownUser: "mallory",
    brokenFactory: crashedBackendProvider,
    stalledFactory: providerFromPlugin(
      plugin,
      { url: `redis://127.0.0.1:${String(stallRelay.port)}`, command_timeout: "60s" },
      options,
    ),
    logs: () => logger.lines,
  });

  it("the fault relays did their part: a lookup stalled, and the broken backends started and then crashed", () => {
    assert.ok(stallRelay.stalled >= 1, "no HGETALL reached the stalling relay");
    const crashing = relays.filter((relay) => relay !== stallRelay);
    assert.ok(crashing.length >= 2, "the health and broken-backend checks each built a broken provider");
    assert.ok(
      crashing.every((relay) => relay.crashed),
      "a broken provider's init() never reached its PING",
    );
  });
});
