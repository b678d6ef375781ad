import "reflect-metadata";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { AuthInfo } from "@gatehouse-proxy/core";
import { selfSignedCertificate } from "../helpers/certs.js";
import { SERVICE_PASSWORD, addPosixUser, seedLayout } from "../helpers/directory.js";
import { Slapd } from "../helpers/slapd.js";
import { request, signal, wire } from "../helpers/wire.js";

describe("auth-ldap over TLS: ldaps:// and StartTLS with a self-signed CA", () => {
  let slapd: Slapd;
  let serviceDn: string;
  let otherDir: string;
  let otherCa: string;

  before(async () => {
    slapd = await Slapd.start();
    serviceDn = await seedLayout(slapd);
    await slapd.asAdmin((client) => addPosixUser(client, slapd.suffix, { name: "alice", password: "alice-secret" }));
    otherDir = await mkdtemp(join(tmpdir(), "gatehouse-other-ca-"));
    otherCa = (await selfSignedCertificate(otherDir, "other-ca")).certFile;
  });
  after(async () => {
    await slapd.destroy();
    await rm(otherDir, { recursive: true, force: true });
  });

  const config = (overrides: Record<string, unknown>): Record<string, unknown> => ({
    bind_dn: serviceDn,
    bind_password: SERVICE_PASSWORD,
    user_base: `ou=people,${slapd.suffix}`,
    timeout: "3s",
    connect_timeout: "2s",
    ...overrides,
  });

  it("ldaps:// with the CA logs in; the service and user binds both go over TLS", async () => {
    const { provider } = wire(config({ url: slapd.tlsUrl, tls: { ca_file: slapd.caFile } }));
    try {
      await provider.init?.();
      const result = (await provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
      assert.equal(result.identities[0]?.identity, "alice");
      assert.equal(await provider.authenticate(request("alice", "wrong"), signal()), false);
    } finally {
      await provider.close?.();
    }
  });

  it("StartTLS on ldap:// with the CA logs in, with and without reused bind connections", async () => {
    for (const bindPoolSize of [0, 2]) {
      const { provider } = wire(
        config({ url: slapd.url, start_tls: true, tls: { ca_file: slapd.caFile }, bind_pool_size: bindPoolSize }),
      );
      try {
        await provider.init?.();
        for (let round = 0; round < 3; round++) {
          const result = (await provider.authenticate(request("alice", "alice-secret"), signal())) as AuthInfo;
          assert.equal(result.identities[0]?.identity, "alice");
          assert.equal(await provider.authenticate(request("alice", "wrong"), signal()), false);
        }
      } finally {
        await provider.close?.();
      }
    }
  });

  it("StartTLS: health binds the service account over TLS; with a wrong CA it fails without a bind", async () => {
    // One pooled service connection, so health costs exactly one bind.
    const { provider } = wire(
      config({ url: slapd.url, start_tls: true, tls: { ca_file: slapd.caFile }, pool_size: 1 }),
    );
    try {
      assert.equal(typeof provider.health, "function");
      const binds = await slapd.loggedBinds();
      await provider.health!(signal());
      assert.equal(await slapd.loggedBinds(), binds + 1);
    } finally {
      await provider.close?.();
    }
    const { provider: untrusting } = wire(config({ url: slapd.url, start_tls: true, tls: { ca_file: otherCa } }));
    try {
      const binds = await slapd.loggedBinds();
      await assert.rejects(untrusting.health!(signal()), /certificate/i);
      assert.equal(await slapd.loggedBinds(), binds, "no bind reached slapd");
    } finally {
      await untrusting.close?.();
    }
  });

  it("a wrong CA is an error (ldaps and StartTLS), and StartTLS never falls back to a plaintext bind", async () => {
    for (const overrides of [
      { url: slapd.tlsUrl, tls: { ca_file: otherCa } },
      { url: slapd.url, start_tls: true, tls: { ca_file: otherCa } },
      { url: slapd.url, start_tls: true },
    ]) {
      const { provider, logger } = wire(config(overrides));
      const binds = await slapd.loggedBinds();
      try {
        await assert.rejects(provider.init?.() ?? Promise.resolve(), (error: Error & { code?: string }) => {
          assert.equal(error.code, "tls", `${JSON.stringify(overrides)}: ${error.message}`);
          return true;
        });
        await assert.rejects(provider.authenticate(request("alice", "alice-secret"), signal()), /certificate/i);
        assert.equal(await slapd.loggedBinds(), binds, "no bind reached slapd");
        assert.equal(
          logger.lines.some((line) => line.includes("alice-secret")),
          false,
        );
      } finally {
        await provider.close?.();
      }
    }
  });

  it("plain ldap:// without StartTLS needs insecure: true, and then warns at startup", async () => {
    assert.throws(() => wire(config({ url: slapd.url })), /url\.0.*insecure: true|insecure/s);
    const { provider, logger } = wire(config({ url: slapd.url, insecure: true }));
    try {
      await provider.init?.();
      assert.equal(logger.events("ldap_insecure").length, 1);
    } finally {
      await provider.close?.();
    }
  });
});
