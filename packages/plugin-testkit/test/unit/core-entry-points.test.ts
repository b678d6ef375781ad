import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import { createProxyServer } from "@gatehouse-proxy/core/engine";
import type { ProxyServer, Revoked } from "@gatehouse-proxy/core/engine";
import { REPO_ROOT } from "../helpers/run.js";

const CORE = join(REPO_ROOT, "packages", "core");

/**
 * The exact public API of each entry point of @gatehouse-proxy/core. Adding a name here is a
 * deliberate act: the root entry is the plugin contract, a promise to every third-party plugin.
 */
const ENTRY_POINTS = [
  {
    specifier: "@gatehouse-proxy/core",
    source: join(CORE, "src", "index.ts"),
    values: [
      "BCRYPT_COST_BOUNDS",
      "ERROR_CODES",
      "GatehouseError",
      "IDENTITY_CONTEXTS",
      "PasswordRecordError",
      "SCRYPT_BOUNDS",
      "SCRYPT_DEFAULTS",
      "Semaphore",
      "SemaphoreQueueFullError",
      "Tokens",
      "abortReason",
      "definePlugin",
      "hashPassword",
      "normalizeAuthResult",
      "parseDuration",
      "parsePasswordRecord",
      "redactSecret",
      "silentLogger",
      "untilAborted",
      "verifyAgainstDummy",
      "verifyPassword",
      "z",
    ],
    types: [
      "AuthInfo",
      "AuthProvider",
      "AuthRequest",
      "AuthResult",
      "BcryptRecord",
      "ConnMeta",
      "Duration",
      "ErrorCodeInfo",
      "ErrorFamily",
      "GatehouseErrorCode",
      "HashPasswordOptions",
      "HostLookupOptions",
      "HostResolver",
      "Identity",
      "IdentityContext",
      "Logger",
      "NewUser",
      "NormalizeOutcome",
      "NormalizedAuthInfo",
      "PasswordRecord",
      "PasswordRecordErrorCode",
      "PluginContext",
      "PluginDefinition",
      "PluginDefinitionBase",
      "ProviderClass",
      "ProviderPluginDefinition",
      "RegisterPluginDefinition",
      "Release",
      "ScryptParams",
      "ScryptRecord",
      "SemaphoreOptions",
      "UserListing",
      "UserStore",
      "VerifyPasswordOptions",
    ],
  },
  {
    specifier: "@gatehouse-proxy/core/engine",
    source: join(CORE, "src", "engine.ts"),
    values: [
      "ALLOW_REASON",
      "AUTH_FAILURE",
      "AUTH_SUCCESS",
      "AddressType",
      "AuthConfigError",
      "AuthPipeline",
      "AuthStatus",
      "Command",
      "ConnectionLimits",
      "DnsConfigError",
      "DnsLookupError",
      "DnsResolver",
      "FailureThrottle",
      "ListenerConfigError",
      "MAX_SESSION_PAGE",
      "ManualClock",
      "Method",
      "NO_ACCEPTABLE_METHODS",
      "PROXY_HEADER_MAX_BYTES",
      "PROXY_V1_MAX_BYTES",
      "ProxyHeaderError",
      "ProxyStats",
      "RECOMMENDED_TRIM_THRESHOLD",
      "Reply",
      "SOCKS_VERSION",
      "UDP_DROP_REASONS",
      "USERPASS_VERSION",
      "UdpStats",
      "authPipelineSettingsSchema",
      "classifyAuthDecision",
      "classifyDenyReason",
      "codeIssues",
      "configIssues",
      "coreLocationOf",
      "createJsonLogger",
      "createProxyServer",
      "dnsOptionsSchema",
      "duration",
      "durationAtLeast",
      "escapeJsonLine",
      "escapeName",
      "escapeNonPrintable",
      "failureReply",
      "formatIssues",
      "formatPath",
      "heapTrimState",
      "hostPort",
      "interpretDestinationName",
      "isPluginDefinition",
      "joinPath",
      "kdfLimiter",
      "listenerOptionsSchema",
      "methodSelection",
      "parseDnsServer",
      "parseGreeting",
      "parseHostPort",
      "parseProxyHeader",
      "parseReply",
      "parseRequest",
      "parseUdpHeader",
      "parseUserPass",
      "serializeGreeting",
      "serializeProxyHeaderV1",
      "serializeProxyHeaderV2",
      "serializeReply",
      "serializeRequest",
      "serializeUdpDatagram",
      "serializeUdpReplyHeader",
      "serializeUserPass",
      "throttleOptionsFromSettings",
      "throttleUsernameKey",
      "tuneProcessForRelay",
    ],
    types: [
      "AuthCacheOptions",
      "AuthChainEntry",
      "AuthDecision",
      "AuthDenyReason",
      "AuthEvent",
      "AuthOptions",
      "AuthOutcome",
      "AuthPipelineSettings",
      "AuthThrottleOptions",
      "Authenticator",
      "CodedProblem",
      "ConfigIssue",
      "ConfigIssueCode",
      "ConnectionLimiter",
      "DnsErrorCode",
      "DnsLookupOptions",
      "DnsOptions",
      "EngineClock",
      "FailureLogOptions",
      "FailureThrottleStore",
      "Greeting",
      "HeapTrim",
      "InterpretedName",
      "LimitExceeded",
      "LimitSlot",
      "ListenerOptions",
      "LiveSession",
      "LogLevel",
      "NameRefusal",
      "Parsed",
      "PolicyDeniedEvent",
      "ProxiedEndpoint",
      "ProxyHeader",
      "ProxyHeaderRefusal",
      "ProxyHeaderTlv",
      "ProxyHooks",
      "ProxyProtocolVersion",
      "ProxyServer",
      "ProxyServerOptions",
      "Reconfigured",
      "RefusedUdpHeader",
      "RelayRuntime",
      "ReplyCode",
      "RequestAddress",
      "ResolvedListenerOptions",
      "ResolvedProxyProtocol",
      "ResolvedUdpOptions",
      "Revoked",
      "SessionFilter",
      "SessionPage",
      "SessionQuery",
      "SessionRecord",
      "SessionSelector",
      "SharedState",
      "ShedCounts",
      "ShedReason",
      "SocksReplyMessage",
      "SocksRequest",
      "SpliceBackend",
      "SplicedSide",
      "SplicedTunnel",
      "SplicedTunnelEnd",
      "SplicedTunnelState",
      "ThrottleAdmission",
      "ThrottledBy",
      "UdpAssociationInfo",
      "UdpDatagramHeader",
      "UdpDropReason",
      "UdpHeaderRefusal",
      "UdpSessionRecord",
      "UserPassCredentials",
    ],
  },
  {
    specifier: "@gatehouse-proxy/core/policy",
    source: join(CORE, "src", "policy", "index.ts"),
    values: [
      "DEFAULT_POLICY_ACTION",
      "PolicyConfigError",
      "compileListenerPolicies",
      "decisionLabel",
      "evaluatePolicy",
      "evaluatePolicyBeforeLookup",
      "evaluatePolicyForAnyDestination",
      "isUnspecifiedAddress",
      "listenerPolicySchema",
      "parseCidr",
      "parseDestination",
      "parseIp",
      "parseSource",
      "policyRuleSchema",
      "policySchema",
      "sourcePortNamed",
    ],
    types: [
      "CidrRange",
      "CompiledPolicy",
      "CompiledRule",
      "DestinationPattern",
      "ListenerPolicyOptions",
      "ParsedIp",
      "PolicyAction",
      "PolicyCommand",
      "PolicyDecision",
      "PolicyIssue",
      "PolicyOptions",
      "PolicyRequest",
      "PolicyRuleOptions",
      "SourcePattern",
    ],
  },
];

let program: ts.Program | undefined;

/** Every name a source entry point exports (types included), with whether it carries a TSDoc comment. */
function declaredExports(source: string): { name: string; documented: boolean }[] {
  if (!program) {
    const config = ts.getParsedCommandLineOfConfigFile(
      join(CORE, "tsconfig.json"),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
        },
      },
    );
    assert.ok(config);
    program = ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: true } });
  }
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(source);
  assert.ok(file, source);
  const module = checker.getSymbolAtLocation(file);
  assert.ok(module);
  return checker.getExportsOfModule(module).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const own = ts.displayPartsToString(target.getDocumentationComment(checker)).trim() !== "";
    // A re-export of another package's value (zod's z) is documented where it is re-exported.
    const atReExport = (symbol.declarations ?? []).some(
      (declaration) =>
        ts.isExportSpecifier(declaration) && ts.getJSDocCommentsAndTags(declaration.parent.parent).length > 0,
    );
    return { name: symbol.name, documented: own || atReExport };
  });
}

describe("@gatehouse-proxy/core's entry points", () => {
  for (const entry of ENTRY_POINTS) {
    it(`${entry.specifier} exports exactly the pinned runtime names`, async () => {
      const module = (await import(entry.specifier)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(module).sort(), entry.values);
    });

    it(`${entry.specifier} exports exactly the pinned types, each with a TSDoc comment`, () => {
      const exports = declaredExports(entry.source);
      const types = exports
        .map((e) => e.name)
        .filter((name) => !entry.values.includes(name))
        .sort();
      assert.deepEqual(types, entry.types);
      const undocumented = exports.filter((e) => !e.documented).map((e) => e.name);
      assert.deepEqual(undocumented, [], `exports without TSDoc: ${undocumented.join(", ")}`);
    });
  }

  it("the plugin contract does not leak the engine: no name is in two entry points", () => {
    const seen = new Map<string, string>();
    for (const entry of ENTRY_POINTS) {
      for (const name of [...entry.values, ...entry.types]) {
        assert.equal(
          seen.get(name),
          undefined,
          `${name} is exported by ${String(seen.get(name))} and ${entry.specifier}`,
        );
        seen.set(name, entry.specifier);
      }
    }
  });

  it("a ProxyServer revokes an identity: revoke(identity) ends its sessions and forgets its cached allows", () => {
    // The signature is pinned at compile time; a server that never started has nothing to end.
    const revoke: (server: ProxyServer, identity: string) => Revoked = (server, identity) => server.revoke(identity);
    const server = createProxyServer({ listeners: [{ listen: "127.0.0.1:0" }] });
    assert.deepEqual(revoke(server, "alice"), { sessions: 0, cachedDecisions: 0 });
  });
});
