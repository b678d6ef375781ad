import { silentLogger } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest, AuthResult, Logger } from "@gatehouse-proxy/core";
import type { ComplianceFixtures } from "@gatehouse-proxy/plugin-testkit";

/** What each deliberately broken provider does wrong; all false = a compliant provider. */
export interface Faults {
  /** The broken backend's error quotes the password. */
  readonly leakPasswordInError?: boolean;
  /** The stalled backend's call ignores the AbortSignal and never settles. */
  readonly ignoreAbort?: boolean;
  /** Answers invalid shapes: an unknown identity context, null for a wrong password. */
  readonly invalidShapes?: boolean;
  /** Throws on NUL bytes. */
  readonly throwOnNul?: boolean;
  /** Matches usernames as patterns (`*` matches anyone), as an unescaped LDAP filter would. */
  readonly wildcardUsernames?: boolean;
  /** A second close() rejects. */
  readonly closeOnce?: boolean;
  /** A broken backend answers false instead of throwing. */
  readonly brokenAnswersFalse?: boolean;
  /** Logs a failed attempt's password at debug level. */
  readonly logPassword?: boolean;
}

const USERS: ReadonlyMap<string, { password: string; groups: string[] }> = new Map([
  ["alice", { password: "alice-s3cret-pass", groups: ["staff", "vpn"] }],
]);

export const FIXTURES: Omit<ComplianceFixtures, "brokenFactory" | "stalledFactory"> = {
  valid: { username: "alice", password: "alice-s3cret-pass", expect: { identity: "alice", groups: ["vpn", "staff"] } },
  wrongPassword: "not-alices-password",
  unknownUser: "mallory",
  concurrency: 1000,
};

/** A provider over an in-memory user table whose "backend" answers after a short timer. */
export function memoryProvider(
  faults: Faults,
  mode: "healthy" | "broken" | "stalled" = "healthy",
  logger: Logger = silentLogger,
): AuthProvider {
  let closed = false;
  return {
    name: "memory",
    async authenticate({ username, password }: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
      if (mode === "stalled") {
        if (faults.ignoreAbort) return new Promise<never>(() => undefined);
        return new Promise<never>((_, reject) => {
          signal.addEventListener("abort", () => reject(new Error("aborted while waiting for the backend")), {
            once: true,
          });
        });
      }
      await delay(2, signal);
      if (mode === "broken") {
        if (faults.brokenAnswersFalse) return false;
        throw new Error(
          faults.leakPasswordInError
            ? `backend unavailable: bind as ${username} with ${password} refused`
            : "backend unavailable: connection refused",
        );
      }
      if (faults.throwOnNul && (username.includes("\0") || password.includes("\0"))) {
        throw new TypeError("string contains null bytes");
      }
      const entry = faults.wildcardUsernames ? matchPattern(username) : USERS.get(username);
      if (entry === undefined || entry.password !== password) {
        if (faults.logPassword) logger.debug({ username, password }, "bad credentials");
        return faults.invalidShapes ? (null as never) : false;
      }
      if (faults.invalidShapes) {
        return { identities: [{ identity: username, context: "Kerberos" }] } as never;
      }
      return { identities: [{ identity: username, context: "ProxyAuthRfc1929" }], groups: entry.groups };
    },
    health() {
      return mode === "broken" ? Promise.reject(new Error("backend unavailable")) : Promise.resolve();
    },
    close() {
      if (closed && faults.closeOnce) return Promise.reject(new Error("already closed"));
      closed = true;
      return Promise.resolve();
    },
  };
}

function matchPattern(username: string): { password: string; groups: string[] } | undefined {
  const pattern = new RegExp(`^${username.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`);
  for (const [name, entry] of USERS) if (pattern.test(name)) return entry;
  return undefined;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error("aborted"));
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new Error("aborted"));
      },
      { once: true },
    );
  });
}
