import { FailureThrottle, throttleUsernameKey } from "@gatehouse-proxy/core/engine";
import type { FailureLogOptions, FailureThrottleStore, ThrottleAdmission } from "@gatehouse-proxy/core/engine";
import type { RedisClient } from "@gatehouse-proxy/auth-redis/connection";
import {
  ADMITTED_PROBE,
  BLOCKED_ADDRESS,
  BLOCKED_USERNAME,
  THROTTLE_ADMIT,
  THROTTLE_FAILURE,
  THROTTLE_SUCCESS,
} from "./scripts.js";
import type { StateKeys } from "./state-keys.js";
import type { StoreHealth } from "./store-health.js";
import { NOTHING_CLAIMED } from "./nothing-claimed.js";

/**
 * How long a probe (the one attempt in flight for a blocked username from an unfamiliar
 * address) holds its key if its instance never says it was decided (the instance died).
 */
export const PROBE_TTL_MS = 30_000;

/**
 * The failure throttle, fleet-wide: FailureThrottle's rules (per-address and per-username
 * failures, smart lockout with suspect and familiar addresses, one probe at a time) kept in
 * Redis keys that expire on their own. One script call per attempt; outcomes are recorded by
 * one more call, not awaited. Redis unreachable: `deny` refuses the attempt (the engine answers
 * it as a backend error), `allow` asks this instance's own FailureThrottle.
 */
export class RedisThrottle implements FailureThrottleStore {
  private readonly local: FailureThrottle;
  private nextFailure = 1;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: StateKeys,
    private readonly instance: string,
    /** Read at every call: a reload changes the limits in place. */
    private readonly settings: FailureLogOptions,
    private readonly health: StoreHealth,
  ) {
    this.local = new FailureThrottle(settings);
  }

  async admit(username: string, address: string): Promise<ThrottleAdmission> {
    const user = throttleUsernameKey(username);
    const probe = this.keys.pair("probe", user, address);
    let outcome: number;
    try {
      outcome = Number(
        await this.client.eval(
          THROTTLE_ADMIT,
          5,
          this.keys.addressBlock(address),
          this.keys.usernameBlock(user),
          this.keys.pair("familiar", user, address),
          probe,
          this.keys.pair("suspect", user, address),
          PROBE_TTL_MS,
        ),
      );
    } catch (error) {
      this.health.failed("throttle", error);
      if (this.health.action === "denied") {
        throw new Error("the shared state store (Redis) does not answer: the failure throttle cannot be checked", {
          cause: error,
        });
      }
      return this.local.admit(username, address);
    }
    this.health.succeeded();
    if (outcome === BLOCKED_ADDRESS) return { throttledBy: "client_address" };
    if (outcome === BLOCKED_USERNAME) return { throttledBy: "username" };
    if (outcome !== ADMITTED_PROBE) return NOTHING_CLAIMED;
    return { release: () => void this.client.del(probe).catch(() => undefined) };
  }

  recordFailure(username: string, address: string): void {
    const user = throttleUsernameKey(username);
    const { maxFailures, windowMs, blockMs } = this.settings;
    this.local.recordFailure(username, address);
    this.client
      .eval(
        THROTTLE_FAILURE,
        5,
        this.keys.addressFailures(address),
        this.keys.addressBlock(address),
        this.keys.usernameFailures(user),
        this.keys.usernameBlock(user),
        this.keys.pair("suspect", user, address),
        maxFailures,
        windowMs,
        blockMs,
        address,
        `${this.instance}:${String(this.nextFailure++)}`,
      )
      .then(
        () => this.health.succeeded(),
        (error: unknown) => this.health.failed("throttle_record", error, false),
      );
  }

  recordSuccess(username: string, address: string): void {
    const user = throttleUsernameKey(username);
    this.local.recordSuccess(username, address);
    this.client
      .eval(
        THROTTLE_SUCCESS,
        4,
        this.keys.addressFailures(address),
        this.keys.usernameFailures(user),
        this.keys.pair("suspect", user, address),
        this.keys.pair("familiar", user, address),
        address,
        this.settings.familiarMs,
      )
      .then(
        () => this.health.succeeded(),
        (error: unknown) => this.health.failed("throttle_record", error, false),
      );
  }
}
