import "reflect-metadata";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { AuthInfo } from "@gatehouse-proxy/core";
import { Client } from "ldapts";
import { startBlackhole } from "../helpers/blackhole.js";
import { SERVICE_PASSWORD, addPosixUser, seedLayout } from "../helpers/directory.js";
import { freePort } from "../helpers/ports.js";
import { Slapd } from "../helpers/slapd.js";
import { lastDenyReason, request, signal, wire } from "../helpers/wire.js";

const TIMEOUT_MS = 1500;
/** Generous bound for a loaded 2-core machine: the configured timeouts plus slack. */
const ERROR_WITHIN_MS = TIMEOUT_MS * 2 + 2000;

describe("auth-ldap when the directory fails", () => {
  let slapd: Slapd;
  let serviceDn: string;

  before(async () => {
    slapd = await Slapd.start({ allowUnauthenticatedBind: true });
    serviceDn = await seedLayout(slapd);
    await slapd.asAdmin((client) => addPosixUser(client, slapd.suffix, { name: "alice", password: "alice-secret" }));
  });
  after(async () => slapd.destroy());

  const config = (url: string | string[]): Record<string, unknown> => ({
    url,
    insecure: true,
    bind_dn: serviceDn,
    bind_password: SERVICE_PASSWORD,
    user_base: `ou=people,${slapd.suffix}`,
    timeout: TIMEOUT_MS,
    connect_timeout: TIMEOUT_MS,
  });

  it("slapd stopped mid-run: errors within the timeout, then recovery without a restart of the provider", async () => {
    const { provider } = wire(config(slapd.url));
    try {
      await provider.init?.();
      assert.notEqual(await provider.authenticate(request("alice", "alice-secret"), signal()), false);
      await slapd.stop();
      for (let attempt = 0; attempt < 3; attempt++) {
        const started = Date.now();
        await assert.rejects(
          provider.authenticate(request("alice", "alice-secret"), signal()),
          (error: Error & { code?: string }) => {
            assert.equal(error.code, "unavailable", error.message);
            return true;
          },
        );
        assert.ok(Date.now() - started < ERROR_WITHIN_MS, `took ${String(Date.now() - started)} ms`);
      }
      await assert.rejects(provider.health?.(signal()) ?? Promise.resolve());
      await slapd.start();
      const result = (await provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.equal(result.identities[0]?.identity, "alice");
      await provider.health?.(signal());
    } finally {
      await slapd.start();
      await provider.close?.();
    }
  });

  it("a blackhole server (accepts, never answers) is an error within the timeout", async () => {
    const blackhole = await startBlackhole();
    const { provider } = wire(config(`ldap://127.0.0.1:${String(blackhole.port)}`));
    try {
      const started = Date.now();
      await assert.rejects(
        provider.authenticate(request("alice", "alice-secret"), signal()),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "timeout", error.message);
          return true;
        },
      );
      assert.ok(Date.now() - started < ERROR_WITHIN_MS, `took ${String(Date.now() - started)} ms`);
      assert.ok(blackhole.connections() >= 1);
      await assert.rejects(provider.init?.() ?? Promise.resolve(), /timed? ?out/i);
    } finally {
      await provider.close?.();
      await blackhole.close();
    }
  });

  it("the caller's AbortSignal ends a hung attempt at once", async () => {
    const blackhole = await startBlackhole();
    // A timeout past the 2.5 s bound below (timers never fire early), so only the signal can end
    // the call in time; not far past it: close() waits for the hung service bind to time out.
    const { provider } = wire({ ...config(`ldap://127.0.0.1:${String(blackhole.port)}`), timeout: "4s" });
    try {
      const started = Date.now();
      await assert.rejects(provider.authenticate(request("alice", "alice-secret"), AbortSignal.timeout(300)));
      assert.ok(Date.now() - started < 2500, `took ${String(Date.now() - started)} ms`);
    } finally {
      await provider.close?.();
      await blackhole.close();
    }
  });

  it("failover: a refusing and a hung server are skipped, the working one answers", async () => {
    const blackhole = await startBlackhole();
    const refused = `ldap://127.0.0.1:${String(await freePort())}`;
    const hung = `ldap://127.0.0.1:${String(blackhole.port)}`;
    const { provider, logger } = wire(config([refused, hung, slapd.url]));
    try {
      await provider.init?.();
      const first = (await provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.equal(first.identities[0]?.identity, "alice");
      const failed = logger.events("ldap_server_failed").map((record) => record["server"]);
      assert.ok(failed.includes(refused) && failed.includes(hung), JSON.stringify(failed));
      // Resting servers are tried last: the next login goes straight to slapd.
      const hungBefore = blackhole.connections();
      const started = Date.now();
      assert.equal(await provider.authenticate(request("alice", "wrong"), signal()), false);
      assert.equal(lastDenyReason(logger), "invalid_credentials");
      assert.ok(Date.now() - started < TIMEOUT_MS, `took ${String(Date.now() - started)} ms`);
      assert.equal(blackhole.connections(), hungBefore);
    } finally {
      await provider.close?.();
      await blackhole.close();
    }
  });

  it("against a server that accepts unauthenticated binds, an empty password is still denied without a bind", async () => {
    // The danger is real: this slapd, like AD, answers success to a DN with an empty password.
    const raw = new Client({ url: slapd.url, timeout: 3000, connectTimeout: 3000 });
    await raw.bind(`uid=alice,ou=people,${slapd.suffix}`, "");
    await raw.unbind();
    const { provider, logger } = wire({ ...config(slapd.url), pool_size: 1 });
    try {
      await provider.init?.();
      const before = await slapd.loggedBinds();
      assert.equal(await provider.authenticate(request("alice", ""), signal()), false);
      assert.equal(lastDenyReason(logger), "empty_password");
      assert.equal(await slapd.loggedBinds(), before);
    } finally {
      await provider.close?.();
    }
  });
});
