// An in-memory RFC 1929 provider for the benchmark: a Map of user → password.
import { timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/** @param {Map<string, string>} users */
export function createMemoryProvider(users) {
  return {
    name: "bench-memory",
    authenticate(request) {
      const expected = users.get(request.username);
      if (expected === undefined) return Promise.resolve(false);
      const a = Buffer.from(expected);
      const b = Buffer.from(request.password);
      return Promise.resolve(a.length === b.length && timingSafeEqual(a, b));
    },
  };
}
