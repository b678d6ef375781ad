import "reflect-metadata";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { hashPassword } from "@gatehouse-proxy/core";
import { WebhookError, parseWebhookSecret, signWebhook } from "@gatehouse-proxy/auth-webhook";
import {
  REPO_ROOT,
  SECRET,
  closeProviders,
  noSignal,
  rejection,
  reply,
  request,
  startReceiver,
  startServer,
  tempDir,
  wire,
} from "../fixtures.js";
import type { RunningReceiver, TempDir, TestServer } from "../fixtures.js";

const run = promisify(execFile);

function verify(secret: string, headers: Record<string, string | string[] | undefined>, body: Buffer): boolean {
  const id = String(headers["webhook-id"]);
  const timestamp = String(headers["webhook-timestamp"]);
  const expected = createHmac("sha256", parseWebhookSecret(secret)).update(`${id}.${timestamp}.`).update(body);
  return headers["webhook-signature"] === `v1,${expected.digest("base64")}`;
}

describe("signature", () => {
  it("matches the Standard Webhooks reference vector", () => {
    const key = parseWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    const body = Buffer.from('{"test": 2432232314}');
    assert.equal(
      signWebhook(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
  });

  it("the README's test vector is what the code computes, and what openssl computes", async () => {
    const readme = await readFile(join(REPO_ROOT, "plugins/auth-webhook/README.md"), "utf8");
    const block = /<!-- test-vector -->\s*```text\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block !== undefined, "the README has a test-vector block");
    const field = (name: string): string => {
      const value = new RegExp(`^${name}: (.*)$`, "m").exec(block)?.[1];
      assert.ok(value !== undefined, name);
      return value;
    };
    const body = Buffer.from(field("body"), "utf8");
    const key = parseWebhookSecret(field("secret"));
    const signature = signWebhook(key, field("webhook-id"), Number(field("webhook-timestamp")), body);
    assert.equal(signature, field("webhook-signature"));
    const dir = await tempDir();
    try {
      const message = await dir.write(
        "signed",
        Buffer.concat([Buffer.from(`${field("webhook-id")}.${field("webhook-timestamp")}.`), body]),
      );
      const { stdout } = await run(
        "openssl",
        ["dgst", "-sha256", "-mac", "HMAC", "-macopt", `hexkey:${key.toString("hex")}`, "-binary", message],
        { encoding: "buffer" },
      );
      assert.equal(`v1,${stdout.toString("base64")}`, signature);
    } finally {
      await dir.remove();
    }
    // And the body is the provider's own serialisation of that request.
    const parsed = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), ["username", "password", "conn_meta", "listener"]);
  });
});

describe("the request on the wire", () => {
  let server: TestServer;
  before(async () => (server = await startServer(reply(200, "true"))));
  after(async () => {
    await closeProviders();
    await server.close();
  });

  it("POSTs JSON to the URL, signed over exactly the bytes received, credentials only in the body", async () => {
    const { provider } = wire({ url: `${server.url}?tenant=a`, insecure: true, secret: SECRET });
    const before = Math.floor(Date.now() / 1000);
    assert.equal(
      await provider.authenticate(
        {
          username: "alice",
          password: "s3cret",
          connMeta: { peer_address: "[::1]:4242", local_address: "[::1]:1080" },
        },
        noSignal,
      ),
      true,
    );
    const received = server.received.at(-1)!;
    assert.equal(received.method, "POST");
    assert.equal(received.url, "/auth?tenant=a");
    assert.equal(received.headers["content-type"], "application/json");
    assert.equal(received.headers["content-length"], String(received.body.length));
    assert.equal(received.headers["accept-encoding"], undefined, "no compressed answers asked for");
    assert.ok(verify(SECRET, received.headers, received.body), "signature over the received bytes");
    assert.match(String(received.headers["webhook-id"]), /^msg_[A-Za-z0-9_-]{20,}$/);
    const timestamp = Number(received.headers["webhook-timestamp"]);
    assert.ok(timestamp >= before && timestamp <= Math.floor(Date.now() / 1000), "seconds, now");
    assert.deepEqual(JSON.parse(received.body.toString("utf8")), {
      username: "alice",
      password: "s3cret",
      conn_meta: { peer_address: "[::1]:4242", local_address: "[::1]:1080" },
      listener: "[::1]:1080",
    });
    assert.ok(!JSON.stringify(received.headers).includes("s3cret"));
  });

  it("webhook-timestamp is read from the host's clock (Tokens.Clock)", async () => {
    const { provider } = wire(
      { url: server.url, insecure: true, secret: SECRET },
      "/nonexistent",
      () => 1_234_567_890_999,
    );
    await provider.authenticate(request("a", "b"), noSignal);
    const received = server.received.at(-1)!;
    assert.equal(received.headers["webhook-timestamp"], "1234567890");
    assert.ok(verify(SECRET, received.headers, received.body), "signed with that timestamp");
  });

  it("a fresh webhook-id per request; no signature headers without a secret", async () => {
    const { provider } = wire({ url: server.url, insecure: true, secret: SECRET });
    await provider.authenticate(request("a", "b"), noSignal);
    await provider.authenticate(request("a", "b"), noSignal);
    const [first, second] = server.received.slice(-2);
    assert.notEqual(first!.headers["webhook-id"], second!.headers["webhook-id"]);
    const { provider: unsigned } = wire({ url: server.url, insecure: true });
    await unsigned.authenticate(request("a", "b"), noSignal);
    const last = server.received.at(-1)!.headers;
    assert.equal(last["webhook-signature"] ?? last["webhook-id"] ?? last["webhook-timestamp"], undefined);
  });

  it("passwords with quotes, backslashes, NUL, control and non-BMP characters round-trip exactly", async () => {
    const { provider } = wire({ url: server.url, insecure: true, secret: SECRET });
    const passwords = [
      `"quoted" 'single' \\back\\slash\\`,
      "nul\u0000inside\u0000",
      "tab\tnewline\ncr\r\u0001\u001f\u007f",
      "emoji 😀 𝄞 and 中文 and é",
      "\u2028\u2029</script>",
      "x".repeat(255),
    ];
    for (const password of passwords) {
      const username = `us"er\\${password.length}😀`;
      await provider.authenticate(request(username, password), noSignal);
      const received = server.received.at(-1)!;
      assert.ok(verify(SECRET, received.headers, received.body));
      const body = JSON.parse(received.body.toString("utf8")) as { username: string; password: string };
      assert.equal(body.password, password);
      assert.equal(body.username, username);
      assert.ok(Buffer.from(received.body.toString("utf8"), "utf8").equals(received.body), "valid UTF-8");
    }
  });

  it("static headers from the config and from headers_file; secret from secret_file", async () => {
    const dir = await tempDir();
    try {
      await dir.write("headers.txt", "# API key for the receiver\nX-Api-Key: key-from-file\n\nX-Tenant:  blue \n");
      await dir.write("secret", `${SECRET}\n`);
      const { provider } = wire(
        {
          url: server.url,
          insecure: true,
          headers: { Authorization: "Bearer inline-token" },
          headers_file: "headers.txt",
          secret_file: "secret",
        },
        dir.path,
      );
      await provider.init?.();
      await provider.authenticate(request("a", "b"), noSignal);
      const received = server.received.at(-1)!;
      assert.equal(received.headers["authorization"], "Bearer inline-token");
      assert.equal(received.headers["x-api-key"], "key-from-file");
      assert.equal(received.headers["x-tenant"], "blue");
      assert.ok(verify(SECRET, received.headers, received.body));
    } finally {
      await dir.remove();
    }
  });

  it("init fails on a missing or bad file, naming the key and never the content", async () => {
    const dir = await tempDir();
    try {
      await dir.write("bad-secret", "whsec_tooshort");
      await dir.write("bad-headers", "X-Ok: 1\nContent-Type: text/plain\nnot a header line with-secret-value\n");
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ secret_file: "missing" }, /secret_file .*missing: cannot read: ENOENT/],
        [
          { secret_file: "bad-secret" },
          /secret_file: the part after "whsec_" must be base64|secret_file: the key must be/,
        ],
        [
          { headers_file: "bad-headers" },
          /line 2: Content-Type is set by the provider; line 3: expected "Name: value"/,
        ],
        [{ tls: { ca_file: "nope.pem" } }, /tls\.ca_file .*nope\.pem: cannot read/],
      ];
      for (const [extra, pattern] of cases) {
        const url = "tls" in extra ? "https://127.0.0.1:1/auth" : server.url;
        const { provider } = wire({ url, insecure: true, ...extra }, dir.path);
        const { error } = await rejection(() => provider.init!());
        assert.match(error.message, pattern);
        assert.doesNotMatch(error.message, /tooshort|with-secret-value/);
      }
    } finally {
      await dir.remove();
    }
  });
});

describe("the example receiver (examples/webhook-receiver)", () => {
  let dir: TempDir;
  let receiver: RunningReceiver;
  before(async () => {
    dir = await tempDir();
    const users = {
      users: {
        proxyuser: {
          password: await hashPassword("secretpassword", { ln: 10, r: 8, p: 1 }),
          groups: ["proxy-users", "premium-tier"],
        },
        'odd"user': { password: await hashPassword('q"\\\u0000😀', { ln: 10, r: 8, p: 1 }) },
      },
    };
    await dir.write("users.json", JSON.stringify(users));
    receiver = await startReceiver(["--users", join(dir.path, "users.json")], { WEBHOOK_SECRET: SECRET });
  });
  after(async () => {
    await closeProviders();
    await receiver.stop();
    await dir.remove();
  });

  it("allows the right password with groups, denies wrong ones and unknown users", async () => {
    const { provider } = wire({ url: receiver.url, insecure: true, secret: SECRET });
    assert.deepEqual(await provider.authenticate(request("proxyuser", "secretpassword"), noSignal), {
      identities: [{ identity: "proxyuser", context: "ProxyAuthRfc1929" }],
      groups: ["proxy-users", "premium-tier"],
    });
    assert.equal(await provider.authenticate(request("proxyuser", "secretpassword "), noSignal), false);
    assert.equal(await provider.authenticate(request("proxyuser", ""), noSignal), false);
    // Same scrypt hash (HMAC key padding), but not the password: refused.
    assert.equal(await provider.authenticate(request("proxyuser", "secretpassword\0"), noSignal), false);
    assert.equal(await provider.authenticate(request("nobody", "secretpassword"), noSignal), false);
    assert.notEqual(await provider.authenticate(request('odd"user', 'q"\\\u0000😀'), noSignal), false);
    assert.equal(await provider.authenticate(request('odd"user', 'q"\\\u0000😁'), noSignal), false);
  });

  it("works with the shipped examples/webhook-receiver/users.json (proxyuser / secretpassword)", async () => {
    const shipped = await startReceiver(["--users", join(REPO_ROOT, "examples/webhook-receiver/users.json")], {
      WEBHOOK_SECRET: SECRET,
    });
    try {
      const { provider } = wire({ url: shipped.url, insecure: true, secret: SECRET });
      assert.deepEqual(await provider.authenticate(request("proxyuser", "secretpassword"), noSignal), {
        identities: [{ identity: "proxyuser", context: "ProxyAuthRfc1929" }],
        groups: ["proxy-users", "premium-tier"],
      });
      assert.equal(await provider.authenticate(request("proxyuser", "secretpassworD"), noSignal), false);
    } finally {
      await shipped.stop();
    }
  });

  it("refuses a wrong secret and an unsigned request with 400: an error, not a deny", async () => {
    const other = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;
    for (const extra of [{ secret: other }, {}]) {
      const { provider } = wire({ url: receiver.url, insecure: true, ...extra });
      const { error } = await rejection(() => provider.authenticate(request("proxyuser", "secretpassword"), noSignal));
      assert.ok(error instanceof WebhookError);
      assert.match(error.message, /answered 400/);
    }
  });

  it("refuses stale timestamps and replayed messages", async () => {
    const body = Buffer.from(JSON.stringify({ username: "proxyuser", password: "secretpassword" }));
    const key = parseWebhookSecret(SECRET);
    const send = async (id: string, timestamp: number) => {
      const response = await fetch(receiver.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signWebhook(key, id, timestamp, body),
        },
        body,
      });
      return { status: response.status, text: await response.text() };
    };
    const now = Math.floor(Date.now() / 1000);
    assert.deepEqual(await send("msg_stale", now - 600), { status: 400, text: '{"error":"stale webhook-timestamp"}' });
    assert.deepEqual(await send("msg_future", now + 600), { status: 400, text: '{"error":"stale webhook-timestamp"}' });
    assert.equal((await send("msg_fresh", now)).status, 200);
    assert.deepEqual(await send("msg_fresh", now), { status: 400, text: '{"error":"replayed webhook-id"}' });
  });
});
