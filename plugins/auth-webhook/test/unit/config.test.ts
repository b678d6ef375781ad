import "reflect-metadata";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import plugin, { parseHeadersFile, webhookConfigSchema } from "@gatehouse-proxy/auth-webhook";
import { SECRET } from "../fixtures.js";

function problems(config: unknown): string[] {
  const result = webhookConfigSchema.safeParse(config);
  if (result.success) return [];
  return result.error.issues.map((issue) => `${issue.path.map(String).join(".")}: ${issue.message}`);
}

describe("config", () => {
  it("is a plugin named @gatehouse-proxy/auth-webhook with defaults", () => {
    assert.equal(plugin.name, "@gatehouse-proxy/auth-webhook");
    assert.deepEqual(webhookConfigSchema.parse({ url: "https://auth.example/login" }), {
      url: "https://auth.example/login",
      insecure: false,
      timeout: 5000,
      max_response_bytes: 65536,
      keep_alive: true,
      max_sockets: 32,
      idle_timeout: 4000,
      reusable: true,
    });
    assert.equal(webhookConfigSchema.parse({ url: "https://a/", timeout: "1.5s" }).timeout, 1500);
  });

  it("reusable is a boolean, true unless set", () => {
    assert.equal(webhookConfigSchema.parse({ url: "https://a/", reusable: false }).reusable, false);
    assert.deepEqual(problems({ url: "https://a/", reusable: "no" }), [
      "reusable: Invalid input: expected boolean, received string",
    ]);
  });

  it("requires https:// unless insecure: true", () => {
    assert.deepEqual(problems({ url: "http://127.0.0.1:8080/" }), [
      "url: must start with https:// (set insecure: true to send passwords over plain http://)",
    ]);
    assert.deepEqual(problems({ url: "http://127.0.0.1:8080/", insecure: true }), []);
    assert.deepEqual(problems({ url: "ftp://x/" }), ["url: must start with https:// (or http:// with insecure: true)"]);
    assert.deepEqual(problems({ url: "not a url" }), ["url: not a URL"]);
    assert.deepEqual(problems({ url: "http://x/", insecure: true, tls: { ca_file: "ca.pem" } }), [
      "tls: only applies to https:// URLs",
    ]);
  });

  it("keeps credentials out of the URL", () => {
    assert.deepEqual(problems({ url: "https://user:pw@auth.example/" }), [
      "url: must not carry credentials; use headers",
    ]);
    assert.deepEqual(problems({ url: "https://auth.example/#x" }), ["url: must not have a #fragment"]);
  });

  it("accepts only whsec_ secrets of 24..64 bytes, never quoting the value", () => {
    assert.deepEqual(problems({ url: "https://a/", secret: SECRET }), []);
    const bad = [
      ["plain-text-secret-value", 'secret: must have the form "whsec_<base64>" (Standard Webhooks)'],
      ["whsec_not*base64!", 'secret: the part after "whsec_" must be base64'],
      [`whsec_${Buffer.alloc(16).toString("base64")}`, "secret: the key must be 24..64 bytes, not 16"],
      [`whsec_${Buffer.alloc(65).toString("base64")}`, "secret: the key must be 24..64 bytes, not 65"],
    ];
    for (const [secret, message] of bad) {
      const found = problems({ url: "https://a/", secret });
      assert.deepEqual(found, [message]);
      assert.ok(!found.join().includes(secret!.slice(6)));
    }
    assert.deepEqual(problems({ url: "https://a/", secret: SECRET, secret_file: "s" }), [
      "secret: set either secret or secret_file, not both",
    ]);
  });

  it("refuses reserved and malformed headers", () => {
    assert.deepEqual(
      problems({
        url: "https://a/",
        headers: {
          "X-Ok": "1",
          "Content-Type": "text/plain",
          "webhook-signature": "v1,x",
          "Bad Name": "v",
          "X-Crlf": "a\r\nb",
        },
      }),
      [
        "headers.Content-Type: set by the provider itself; cannot be configured",
        "headers.webhook-signature: set by the provider itself; cannot be configured",
        "headers.Bad Name: not a valid header name",
        "headers.X-Crlf: header values cannot hold CR, LF or NUL",
      ],
    );
  });

  it("refuses unknown keys and out-of-range numbers", () => {
    assert.equal(problems({ url: "https://a/", retries: 3 }).length, 1);
    assert.equal(problems({ url: "https://a/", tls: { verify: false } }).length, 1);
    assert.equal(problems({ url: "https://a/", max_sockets: 0 }).length, 1);
    assert.equal(problems({ url: "https://a/", timeout: "0s" }).length, 1);
    assert.equal(problems({ url: "https://a/", timeout: "soon" }).length, 1);
  });

  it("headers_file lines", () => {
    assert.deepEqual(parseHeadersFile("f", "# c\r\nA: 1\r\n\r\nB:two: parts \n"), { A: "1", B: "two: parts" });
    assert.throws(
      () => parseHeadersFile("f", "Host: x\nnope\n"),
      /f: line 1: Host is set by the provider; line 2: expected "Name: value"/,
    );
  });
});
