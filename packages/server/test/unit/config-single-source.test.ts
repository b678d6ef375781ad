// The config file's sections that core consumes are core's own schemas: every key core knows
// is a key of the file and vice versa, and a bad value gets the same problem line whether it
// comes from a config file (validateConfig) or from a program calling createProxyServer.
// The keys come from the schemas themselves, so a new option is covered without editing this.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  authPipelineSettingsSchema,
  createProxyServer,
  dnsOptionsSchema,
  listenerOptionsSchema,
} from "@gatehouse-proxy/core/engine";
import type { ProxyServerOptions } from "@gatehouse-proxy/core/engine";
import { policySchema } from "@gatehouse-proxy/core/policy";
import { GatehouseError } from "@gatehouse-proxy/core";
import { configSchema, validateConfig } from "@gatehouse-proxy/server";

const LISTEN = "127.0.0.1:0";
/** Invalid for every option: not a duration, number, flag, string or list; an unknown key for a mapping. */
const BAD = { not_an_option: 1 };

function fileProblems(config: Record<string, unknown>): readonly string[] {
  try {
    validateConfig(config, {});
  } catch (error) {
    assert.ok(error instanceof GatehouseError, String(error));
    return error.problems;
  }
  return [];
}

function coreProblems(options: Partial<ProxyServerOptions>): readonly string[] {
  try {
    createProxyServer({ listeners: [{ listen: LISTEN }], ...options });
  } catch (error) {
    // Listener, Dns, Auth and PolicyConfigError alike: `problems` are `path: message` lines.
    const problems: unknown = (error as { problems?: unknown }).problems;
    assert.ok(
      Array.isArray(problems) && problems.every((line) => typeof line === "string"),
      `expected a config error with problems, got ${String(error)}`,
    );
    return problems;
  }
  return [];
}

const fileShape = configSchema.shape;
/** The host's own keys of `auth:` (provider names and plugin configs), which core never sees. */
const HOST_AUTH_KEYS = new Set(["provider", "chain", "providers"]);

/** Every key either side knows: core's schema's and the file schema's. */
function keysOf(core: object, file: object, hostOnly: ReadonlySet<string> = new Set()): string[] {
  return [...new Set([...Object.keys(core), ...Object.keys(file).filter((key) => !hostOnly.has(key))])];
}

/** Each section: the keys, and how a value is put into a file and into createProxyServer. */
const SECTIONS = [
  {
    section: "listeners[0]",
    keys: keysOf(listenerOptionsSchema.shape, fileShape.listeners.element.shape),
    file: (key: string, value: unknown) => ({ listeners: [{ listen: LISTEN, [key]: value }] }),
    core: (key: string, value: unknown) => ({ listeners: [{ listen: LISTEN, [key]: value }] }),
  },
  {
    section: "dns",
    keys: keysOf(dnsOptionsSchema.shape, fileShape.dns.unwrap().shape),
    file: (key: string, value: unknown) => ({ listeners: [{ listen: LISTEN }], dns: { [key]: value } }),
    core: (key: string, value: unknown) => ({ dns: { [key]: value } }),
  },
  {
    section: "policy",
    keys: keysOf(policySchema.shape, fileShape.policy.unwrap().shape),
    file: (key: string, value: unknown) => ({ listeners: [{ listen: LISTEN }], policy: { [key]: value } }),
    core: (key: string, value: unknown) => ({ policy: { [key]: value } }),
  },
  {
    section: "auth",
    keys: keysOf(authPipelineSettingsSchema.shape, fileShape.auth.unwrap().shape, HOST_AUTH_KEYS),
    file: (key: string, value: unknown) => ({ listeners: [{ listen: LISTEN }], auth: { [key]: value } }),
    core: (key: string, value: unknown) => ({ auth: { [key]: value } }),
  },
] as const;

describe("config: core's option schemas are the file's (one source of truth)", () => {
  it("the file schema is composed of core's schemas, not copies of them", () => {
    assert.equal(fileShape.listeners.element, listenerOptionsSchema);
    assert.equal(fileShape.dns.unwrap(), dnsOptionsSchema);
    assert.equal(fileShape.policy.unwrap(), policySchema);
    const auth = fileShape.auth.unwrap().shape;
    for (const key of Object.keys(
      authPipelineSettingsSchema.shape,
    ) as (keyof typeof authPipelineSettingsSchema.shape)[]) {
      assert.equal(auth[key], authPipelineSettingsSchema.shape[key], `auth.${key}`);
    }
  });

  for (const { section, keys, file, core } of SECTIONS) {
    it(`${section}: every option core knows is known to the file and vice versa, with the same problem for a bad value`, () => {
      assert.ok(keys.length > 0);
      for (const key of keys) {
        const fromFile = fileProblems(file(key, BAD));
        assert.ok(
          fromFile.some((line) => line.startsWith(`${section}.${key}`)),
          `${section}.${key} in ${JSON.stringify(fromFile)}`,
        );
        assert.ok(!fromFile.some((line) => line === `${section}.${key}: unknown key`), `${section}.${key} is known`);
        assert.deepEqual(coreProblems(core(key, BAD)), fromFile, `${section}.${key}`);
      }
    });

    it(`${section}: a key neither knows is refused by both alike`, () => {
      const fromFile = fileProblems(file("not_an_option", 1));
      assert.deepEqual(fromFile, [`${section}.not_an_option: unknown key`]);
      if (section === "auth") return; // createProxyServer's auth also takes provider/chain objects: only its settings are checked
      assert.deepEqual(coreProblems(core("not_an_option", 1)), fromFile);
    });
  }
});
