import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { nativeRelay } from "@gatehouse-proxy/relay-native";
import { runCli, startCli } from "../helpers/cli.js";
import { curlThrough, startHttp } from "../helpers/curl.js";
import { INLINE_PLUGIN, makeFixtureDir } from "../helpers/fixtures.js";

const CONFIG = [
  "listeners:",
  "  - listen: 127.0.0.1:0",
  "    require_auth: true",
  "auth:",
  "  provider: inline",
  "  providers:",
  "    inline:",
  "      use: ./inline.js",
  "      users:",
  "        alice: ${env:GATEHOUSE_TEST_ALICE_PASSWORD}",
  "log: { level: debug }",
].join("\n");

describe("gatehouse --config runs the proxy with plugin providers", () => {
  const fixture = makeFixtureDir();
  let http: { server: Server; port: number };
  before(async () => {
    fixture.write("inline.js", INLINE_PLUGIN);
    http = await startHttp();
  });
  after(() => {
    http.server.close();
    fixture.remove();
  });

  it("curl goes through with good credentials and is refused with bad ones; SIGTERM exits 0", async () => {
    const file = fixture.write("run.yaml", CONFIG);
    const proxy = await startCli(["--config", file], { GATEHOUSE_TEST_ALICE_PASSWORD: "wonder-land-7" });
    try {
      const port = proxy.ports[0]!;
      const good = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/good`, "alice:wonder-land-7");
      assert.equal(good.exitCode, 0);
      assert.equal(good.stdout, "hello /good");
      const bad = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/bad`, "alice:wrong-password-9");
      assert.equal(bad.exitCode, 97);
      const none = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/none`);
      assert.notEqual(none.exitCode, 0);
    } finally {
      const exit = await proxy.stop("SIGTERM");
      assert.equal(exit.code, 0);
    }
    assert.doesNotMatch(proxy.stdout(), /wonder-land-7|wrong-password-9/);
    assert.match(proxy.stdout(), /"event":"provider_ready"/);
  });

  it("the startup log says which relay runs (auto, relay: js, --no-splice) and whether glibc's heap trimming is out of its way", async () => {
    const file = fixture.write("relay.yaml", CONFIG);
    const env = { GATEHOUSE_TEST_ALICE_PASSWORD: "wonder-land-7" };
    const relayLine = async (args: string[], extraEnv: Record<string, string>): Promise<Record<string, unknown>> => {
      const proxy = await startCli(args, { ...env, ...extraEnv });
      await proxy.stop("SIGTERM");
      const text =
        proxy
          .stdout()
          .split("\n")
          .find((entry) => entry.includes('"event":"relay"')) ?? "{}";
      return JSON.parse(text) as Record<string, unknown>;
    };
    const auto = await relayLine(["--config", file], { MALLOC_TRIM_THRESHOLD_: "" });
    assert.equal(auto["incremental_marking"], false);
    if (nativeRelay.available) {
      assert.equal(auto["relay"], "splice");
      assert.match(String(auto["msg"]), /^relay: splice \(kernel to kernel/);
      // The relay addon raised the threshold itself (mallopt), for the JS relay's TLS and fallback tunnels.
      assert.equal(auto["heap_trim"], "addon");
    } else {
      assert.equal(auto["relay"], "js");
      assert.equal(auto["heap_trim"], "glibc-default");
      assert.match(String(auto["msg"]), /start gatehouse with MALLOC_TRIM_THRESHOLD_=268435456/);
    }
    const noSplice = await relayLine(["--config", file, "--no-splice"], { MALLOC_TRIM_THRESHOLD_: "268435456" });
    assert.equal(noSplice["relay"], "js");
    assert.match(String(noSplice["reason"]), /--no-splice/);
    assert.equal(noSplice["heap_trim"], "env");
    assert.match(String(noSplice["msg"]), /^relay: js \(relay: js in the config \(or --no-splice\)\)$/);
    const jsFile = fixture.write("relay-js.yaml", `${CONFIG}\nrelay: js`);
    assert.equal((await relayLine(["--config", jsFile], {}))["relay"], "js");
  });

  it("SIGINT exits 0 too", async () => {
    const file = fixture.write("sigint.yaml", CONFIG);
    const proxy = await startCli(["--config", file], { GATEHOUSE_TEST_ALICE_PASSWORD: "x" });
    const exit = await proxy.stop("SIGINT");
    assert.equal(exit.code, 0);
  });

  it("a provider whose init() fails stops startup with exit 1 naming it", async () => {
    const file = fixture.write(
      "fail.yaml",
      [
        "listeners:",
        "  - listen: 127.0.0.1:0",
        "auth:",
        "  provider: broken",
        "  providers:",
        "    broken:",
        "      use: ./inline.js",
        "      users: {}",
        "      fail_init: true",
      ].join("\n"),
    );
    const result = await runCli(["--config", file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /provider broken \(fixture-inline\) failed to start: backend down/);
  });

  it("a bad config given to --config exits 2 without starting", async () => {
    const file = fixture.write("bad.yaml", "listeners: []\n");
    const result = await runCli(["--config", file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /listeners: /);
  });
});

describe("KumoMTA legacy flags", () => {
  let http: { server: Server; port: number };
  before(async () => {
    http = await startHttp();
  });
  after(() => http.server.close());

  it("--listen (repeatable) with --timeout-seconds and --no-splice serves curl without auth", async () => {
    const proxy = await startCli([
      "--listen",
      "127.0.0.1:0",
      "--listen",
      "127.0.0.1:0",
      "--timeout-seconds",
      "30",
      "--no-splice",
    ]);
    try {
      assert.equal(proxy.ports.length, 2);
      for (const port of proxy.ports) {
        const result = await curlThrough(port, `http://127.0.0.1:${String(http.port)}/legacy`);
        assert.equal(result.exitCode, 0);
        assert.equal(result.stdout, "hello /legacy");
      }
    } finally {
      assert.equal((await proxy.stop()).code, 0);
    }
  });

  it("a bad --timeout-seconds is a usage error (exit 2)", async () => {
    const result = await runCli(["--listen", "127.0.0.1:0", "--timeout-seconds", "soon"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--timeout-seconds/);
  });

  it("a bad --listen address exits 2 naming it", async () => {
    const result = await runCli(["--listen", "localhost"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /listeners\[0\]/);
  });
});
