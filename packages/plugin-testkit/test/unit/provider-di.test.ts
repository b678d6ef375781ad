import "reflect-metadata";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Tokens, definePlugin, z } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest, AuthResult, HostResolver, Logger, PluginContext } from "@gatehouse-proxy/core";
import {
  providerComplianceSuite,
  providerFromPlugin,
  recordingLogger,
  wirePlugin,
} from "@gatehouse-proxy/plugin-testkit";
import { inject, injectable } from "tsyringe";

const schema = z.strictObject({
  users: z.record(z.string(), z.strictObject({ password: z.string(), expires_at: z.number() })),
});
type Config = z.output<typeof schema>;

/** Passwords that expire: the answer depends on the injected clock only. */
@injectable()
class ExpiringProvider implements AuthProvider {
  readonly name: string;
  constructor(
    @inject(Tokens.Config) private readonly config: Config,
    @inject(Tokens.Context) context: PluginContext,
    @inject(Tokens.Clock) private readonly clock: () => number,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Resolver) readonly resolver: HostResolver,
  ) {
    this.name = context.instanceName;
  }

  authenticate({ username, password }: AuthRequest): Promise<AuthResult> {
    return Promise.resolve(this.decide(username, password));
  }

  private decide(username: string, password: string): boolean {
    const user = Object.hasOwn(this.config.users, username) ? this.config.users[username] : undefined;
    if (user === undefined || user.password !== password) return false;
    if (this.clock() >= user.expires_at) {
      this.logger.info({ event: "password_expired", username }, "password expired");
      return false;
    }
    return true;
  }
}

const plugin = definePlugin({
  name: "gatehouse-plugin-expiring",
  gatehouse: "^0.1",
  configSchema: schema,
  provider: ExpiringProvider,
});

const config = { users: { alice: { password: "pw", expires_at: 10_000 } } };
const request = (password: string): AuthRequest => ({
  username: "alice",
  password,
  connMeta: { peer_address: "127.0.0.1:5000", local_address: "127.0.0.1:1080" },
});
const signal = new AbortController().signal;

describe("the short form: definePlugin({ provider }) and the tokens the host injects", () => {
  it("injects the given clock: the same password is allowed before expiry and denied at it", async () => {
    let now = 9_999;
    const logger = recordingLogger();
    const { provider } = wirePlugin(plugin, config, { clock: () => now, logger, instanceName: "expiring" });
    assert.equal(provider.name, "expiring");
    assert.equal(await provider.authenticate(request("pw"), signal), true);
    now = 10_000;
    assert.equal(await provider.authenticate(request("pw"), signal), false);
    const [expired] = logger.events("password_expired");
    assert.equal(expired?.["provider"], "expiring", "the injected logger is bound to the instance name");
    now = 5;
    assert.equal(await provider.authenticate(request("pw"), signal), true, "time is the clock's, not the wall's");
  });

  it("injects the given resolver, and one provider per instance container", () => {
    const resolver: HostResolver = () => Promise.resolve({ address: "127.0.0.1", family: 4 });
    const { provider, container } = wirePlugin(plugin, config, { resolver });
    assert.ok(provider instanceof ExpiringProvider);
    assert.equal(provider.resolver, resolver);
    assert.equal(container.resolve(Tokens.AuthProvider), provider);
    assert.notEqual(wirePlugin(plugin, config).provider, provider, "each wiring creates its own");
  });

  describe("passes the compliance suite with a fixed clock", () => {
    providerComplianceSuite(
      it,
      providerFromPlugin(
        plugin,
        { users: { alice: { password: "correct horse", expires_at: 2e12 } } },
        {
          clock: () => 1e12,
        },
      ),
      { valid: { username: "alice", password: "correct horse" }, wrongPassword: "Correct horse", unknownUser: "bob" },
    );
  });

  it("needs exactly one of provider and register, with a clear error", () => {
    const base = { name: "gatehouse-plugin-x", gatehouse: "^0.1", configSchema: z.object({}) };
    assert.throws(
      () => definePlugin({ ...base, provider: ExpiringProvider, register() {} } as never),
      /invalid plugin definition: give either provider \(an @injectable\(\) class\) or register\(container, config, context\), not both/,
    );
    assert.throws(
      () => definePlugin(base as never),
      /invalid plugin definition: provider \(an @injectable\(\) AuthProvider class\) or register\(container, config, context\) is required/,
    );
    assert.throws(() => definePlugin({ ...base, provider: {} } as never), /provider must be a class/);
  });

  it("names the cause when the provider class is not @injectable()", () => {
    class NotInjectable implements AuthProvider {
      readonly name = "x";
      constructor(readonly config: unknown) {}
      authenticate(): Promise<AuthResult> {
        return Promise.resolve(false);
      }
    }
    const bare = definePlugin({
      name: "gatehouse-plugin-bare",
      gatehouse: "^0.1",
      configSchema: z.object({}),
      provider: NotInjectable,
    });
    assert.throws(
      () => wirePlugin(bare, {}),
      /provider compliance \(gatehouse-plugin-bare\) could not be created: TypeInfo not known for "NotInjectable" \(the class is not known to the host's tsyringe: mark it @injectable\(\)/,
    );
  });
});
