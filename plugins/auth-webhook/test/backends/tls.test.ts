import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { WebhookError } from "@gatehouse-proxy/auth-webhook";
import {
  closeProviders,
  makePki,
  noSignal,
  rejection,
  reply,
  request,
  startServer,
  tempDir,
  wire,
} from "../fixtures.js";
import type { Pki, TempDir, TestServer } from "../fixtures.js";

describe("HTTPS with a private CA (openssl)", () => {
  let dir: TempDir;
  let good: Pki;
  let server: TestServer;
  before(async () => {
    dir = await tempDir();
    // "other" is a second CA whose certificate the server does not have.
    [good] = await Promise.all([makePki(dir, "good"), makePki(dir, "other")]);
    server = await startServer(
      reply(200, JSON.stringify({ identities: [{ identity: "a", context: "GenericAuth" }] })),
      {
        cert: good.cert,
        key: good.key,
      },
    );
  });
  after(async () => {
    await closeProviders();
    await server.close();
    await dir.remove();
  });

  it("trusts the server with tls.ca_file (relative to the config folder) and reuses the TLS connection", async () => {
    const { provider } = wire({ url: server.url, tls: { ca_file: "good-ca.pem" } }, dir.path);
    await provider.init?.();
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await provider.authenticate(request("a", "b"), noSignal), {
        identities: [{ identity: "a", context: "GenericAuth" }],
        groups: [],
      });
    }
    assert.equal(server.connections, 1);
  });

  it("checks the name: tls.servername for a name in the certificate, an error for one that is not", async () => {
    const { provider } = wire(
      { url: server.url, tls: { ca_file: "good-ca.pem", servername: "auth.internal" } },
      dir.path,
    );
    assert.notEqual(await provider.authenticate(request("a", "b"), noSignal), false);
    const { provider: wrongName } = wire(
      { url: server.url, tls: { ca_file: "good-ca.pem", servername: "elsewhere.example" } },
      dir.path,
    );
    const { error } = await rejection(() => wrongName.authenticate(request("a", "b"), noSignal));
    assert.ok(error instanceof WebhookError);
    assert.match(error.message, /ERR_TLS_CERT_ALTNAME_INVALID|does not match|altnames/i);
  });

  it("a certificate from another CA, or Node's default roots, is an error and the request is never sent", async () => {
    const before = server.received.length;
    for (const config of [{ tls: { ca_file: "other-ca.pem" } }, {}]) {
      const { provider } = wire({ url: server.url, ...config }, dir.path);
      const { error, ms } = await rejection(() => provider.authenticate(request("a", "password-xyz"), noSignal));
      assert.ok(error instanceof WebhookError, String(error));
      assert.equal(error.code, "network");
      assert.match(error.message, /certificate|UNABLE_TO_VERIFY|self.signed/i);
      assert.ok(ms < 3000);
    }
    assert.equal(server.received.length, before);
  });

  it("health() completes the TLS handshake with the configured trust and name, and sends no request", async () => {
    const before = server.received.length;
    const connections = server.connections;
    const healthy = wire({ url: server.url, tls: { ca_file: "good-ca.pem" } }, dir.path).provider;
    await healthy.health!(AbortSignal.timeout(5000));
    const named = wire({ url: server.url, tls: { ca_file: "good-ca.pem", servername: "auth.internal" } }, dir.path);
    await named.provider.health!(AbortSignal.timeout(5000));
    assert.equal(server.connections, connections + 2);
    for (const tls of [{ ca_file: "other-ca.pem" }, { ca_file: "good-ca.pem", servername: "elsewhere.example" }]) {
      const { provider } = wire({ url: server.url, tls }, dir.path);
      const { error } = await rejection(() => provider.health!(AbortSignal.timeout(5000)));
      assert.ok(error instanceof WebhookError, String(error));
      assert.equal(error.code, "network");
      assert.match(error.message, /certificate|UNABLE_TO_VERIFY|self.signed|ALTNAME/i);
    }
    assert.equal(server.received.length, before);
  });
});
