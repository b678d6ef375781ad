import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { Counter } from "prom-client";
import {
  DEFAULT_ADMIN_LISTEN,
  Registry,
  createAdminServer,
  describeFailure,
  parseAdminListen,
} from "@gatehouse-proxy/observability";
import type { AdminServer } from "@gatehouse-proxy/observability";
import { isLoopback } from "../../dist/revoke-route.js";

async function started(
  ready: () => Promise<void>,
  readyTimeoutMs?: number,
): Promise<{ admin: AdminServer; base: string }> {
  const registry = new Registry();
  new Counter({ name: "test_things_total", help: "things", registers: [registry] }).inc(3);
  const admin = createAdminServer({
    listen: "127.0.0.1:0",
    registry,
    ready,
    ...(readyTimeoutMs !== undefined && { readyTimeoutMs }),
  });
  await admin.start();
  return { admin, base: `http://127.0.0.1:${admin.address().port}` };
}

/** A client connection that has sent `bytes`; resolves once connected. */
async function rawConnection(
  port: number,
  bytes: string,
): Promise<{ socket: Socket; firstData: Promise<void>; closed: Promise<void> }> {
  const socket = connect(port, "127.0.0.1");
  const firstData = new Promise<void>((resolve) => socket.once("data", () => resolve()));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(bytes);
  return { socket, firstData, closed };
}

describe("admin server routes", () => {
  let admin: AdminServer;
  let base: string;
  before(async () => {
    ({ admin, base } = await started(() => Promise.resolve()));
  });
  after(() => admin.close());

  it("binds loopback and reports its address", () => {
    assert.equal(admin.address().address, "127.0.0.1");
    assert.ok(admin.address().port > 0);
  });

  it("GET /metrics serves the registry as Prometheus text", async () => {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const body = await response.text();
    assert.match(body, /^# TYPE test_things_total counter$/m);
    assert.match(body, /^test_things_total 3$/m);
  });

  it("GET /healthz is 200 ok; a query string is ignored", async () => {
    for (const path of ["/healthz", "/healthz?verbose=1"]) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "ok\n");
    }
  });

  it("GET /readyz is 200 when ready() resolves", async () => {
    const response = await fetch(`${base}/readyz`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok\n");
  });

  it("unknown paths are 404", async () => {
    for (const path of ["/index.html", "/metrics/", "/admin", "/__proto__", "/constructor"]) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 404, path);
      await response.text();
    }
  });

  it("other methods are 405 with Allow: GET, without reading the body", async () => {
    for (const method of ["POST", "PUT", "DELETE", "HEAD"]) {
      const response = await fetch(`${base}/metrics`, {
        method,
        ...(method !== "HEAD" && method !== "DELETE" && { body: "x".repeat(100_000) }),
      });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get("allow"), "GET");
      await response.text();
    }
  });
});

describe("admin server readiness", () => {
  it("503 with the error message when ready() rejects, 200 once it resolves", async () => {
    let failure: Error | undefined = new Error("provider corp: LDAP server unreachable");
    const { admin, base } = await started(() => (failure ? Promise.reject(failure) : Promise.resolve()));
    try {
      const down = await fetch(`${base}/readyz`);
      assert.equal(down.status, 503);
      assert.equal(await down.text(), "not ready: provider corp: LDAP server unreachable\n");
      failure = undefined;
      const up = await fetch(`${base}/readyz`);
      assert.equal(up.status, 200);
      await up.text();
    } finally {
      await admin.close();
    }
  });

  it("503 when ready() does not settle within the deadline", async () => {
    const { admin, base } = await started(() => new Promise<void>(() => undefined), 100);
    try {
      const started = Date.now();
      const response = await fetch(`${base}/readyz`);
      assert.equal(response.status, 503);
      assert.match(await response.text(), /not ready within 100 ms/);
      assert.ok(Date.now() - started < 2000);
    } finally {
      await admin.close();
    }
  });

  it("a throwing (not rejecting) ready() is a 503, and concurrent probes share one call", async () => {
    let calls = 0;
    const { admin, base } = await started(() => {
      calls++;
      throw new Error("boom");
    });
    try {
      const response = await fetch(`${base}/readyz`);
      assert.equal(response.status, 503);
      assert.equal(await response.text(), "not ready: boom\n");
    } finally {
      await admin.close();
    }
    let slowCalls = 0;
    const slow = await started(async () => {
      slowCalls++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    try {
      const responses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${slow.base}/readyz`)));
      for (const response of responses) {
        assert.equal(response.status, 200);
        await response.text();
      }
      assert.equal(slowCalls, 1);
    } finally {
      await slow.admin.close();
    }
    assert.equal(calls, 1);
  });

  it("credentials in a backend URL or a password= pair are masked in the 503 body", async () => {
    const { admin, base } = await started(() =>
      Promise.reject(new Error("connect ldaps://cn=admin:hunter2@ldap.corp:636 failed\npassword=hunter2 rejected")),
    );
    try {
      const response = await fetch(`${base}/readyz`);
      assert.equal(response.status, 503);
      const body = await response.text();
      assert.doesNotMatch(body, /hunter2/);
      assert.equal(body, "not ready: connect ldaps://[REDACTED]@ldap.corp:636 failed password=[REDACTED] rejected\n");
    } finally {
      await admin.close();
    }
  });

  it("file paths stay readable, also when a file or instance is named like a secret; secrets do not", () => {
    const kept = [
      "provider htpasswd: /srv/app/users.htpasswd: ENOENT",
      "ENOENT: no such file or directory, open '/etc/gatehouse/passwd'",
      "users_file /srv/secrets/token:v2/users.yaml: cannot read: ENOENT",
      "cannot read passwd file /run/pass: EACCES",
    ];
    for (const message of kept) assert.equal(describeFailure(new Error(message)), message);
    assert.equal(
      describeFailure(new Error("AUTH failed: password: hunter2, client_secret=abc Token: xyz api-token=q PWD = z")),
      "AUTH failed: password: [REDACTED] client_secret=[REDACTED] Token: [REDACTED] api-token=[REDACTED] PWD = [REDACTED]",
    );
  });

  it("describeFailure bounds the message", () => {
    assert.equal(describeFailure(new Error("x".repeat(1000))).length, 303);
    assert.equal(describeFailure("plain"), "plain");
    assert.equal(describeFailure(new Error("")), "not ready");
  });
});

describe("admin server lifecycle", () => {
  it("refuses a bad listen address, a second start, and close is idempotent", async () => {
    assert.throws(
      () => createAdminServer({ listen: "localhost", registry: new Registry() }),
      /admin\.listen: expected host:port/,
    );
    const admin = createAdminServer({ listen: "127.0.0.1:0", registry: new Registry() });
    await admin.start();
    await assert.rejects(admin.start(), /already started/);
    await admin.close();
    await admin.close();
    assert.throws(() => admin.address(), /not listening/);
  });

  it("defaults to loopback", () => {
    assert.equal(DEFAULT_ADMIN_LISTEN, "127.0.0.1:9090");
    assert.deepEqual(parseAdminListen(DEFAULT_ADMIN_LISTEN), { host: "127.0.0.1", port: 9090 });
    assert.deepEqual(parseAdminListen("[::1]:0"), { host: "::1", port: 0 });
  });

  it("close() ends open connections at once: an idle keep-alive one and one in the middle of a request", async () => {
    const { admin } = await started(() => Promise.resolve());
    const port = admin.address().port;
    const idle = await rawConnection(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    await idle.firstData;
    const midRequest = await rawConnection(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); // headers never end
    const bound = Symbol("bound");
    const outcome = await Promise.race([
      admin.close().then(() => Promise.all([idle.closed, midRequest.closed])),
      new Promise((resolve) => setTimeout(resolve, 3000, bound).unref()),
    ]);
    idle.socket.destroy();
    midRequest.socket.destroy();
    assert.notEqual(outcome, bound, "close() and both connections' ends within 3 s");
  });
});

describe("admin server: POST /api/revoke", () => {
  let admin: AdminServer;
  let base: string;
  const revoked: string[] = [];
  let failNext = false;

  before(async () => {
    admin = createAdminServer({
      listen: "127.0.0.1:0",
      registry: new Registry(),
      revoke: (identity) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error("redis down"));
        }
        revoked.push(identity);
        return Promise.resolve();
      },
    });
    await admin.start();
    base = `http://127.0.0.1:${String(admin.address().port)}`;
  });
  after(() => admin.close());

  const post = async (body: string): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${base}/api/revoke`, { method: "POST", body });
    return { status: response.status, body: await response.json() };
  };

  it("revokes the identity in the JSON body", async () => {
    assert.deepEqual(await post('{"identity":"alice"}'), { status: 200, body: { revoked: "alice" } });
    assert.deepEqual(revoked, ["alice"]);
  });

  it("400 for a body without a usable identity, 413 for a large one, 503 when revoking fails", async () => {
    for (const body of ["", "null", "[]", '{"identity":""}', '{"identity":42}', `{"identity":"${"x".repeat(256)}"}`]) {
      assert.equal((await post(body)).status, 400, body);
    }
    assert.equal((await post(`{"identity":"${"x".repeat(5000)}"}`)).status, 413);
    failNext = true;
    const failed = await post('{"identity":"bob"}');
    assert.equal(failed.status, 503);
    assert.match(JSON.stringify(failed.body), /redis down/);
    assert.deepEqual(revoked, ["alice"]);
  });

  it("GET is 405 with Allow: POST", async () => {
    const response = await fetch(`${base}/api/revoke`);
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "POST");
  });

  it("only loopback peers may revoke", () => {
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
      assert.ok(isLoopback(address), address);
    for (const address of ["10.0.0.1", "::ffff:10.0.0.1", "192.0.2.1", "2001:db8::1", undefined]) {
      assert.ok(!isLoopback(address), String(address));
    }
  });
});

describe("admin server without revoke", () => {
  it("POST /api/revoke is 404", async () => {
    const admin = createAdminServer({ listen: "127.0.0.1:0", registry: new Registry() });
    await admin.start();
    try {
      const response = await fetch(`http://127.0.0.1:${String(admin.address().port)}/api/revoke`, {
        method: "POST",
        body: "{}",
      });
      assert.equal(response.status, 404);
    } finally {
      await admin.close();
    }
  });
});
