// Drives RFC 1929 logins against a SOCKS5 proxy: each login is one TCP connection that sends
// the method offer and the credentials in one write, reads the two 2-byte replies, and resets.
import { connect } from "node:net";
import { Buffer } from "node:buffer";
import { performance } from "node:perf_hooks";

/** @param {{username: string, password: string}} credentials */
export function loginBytes({ username, password }) {
  const user = Buffer.from(username, "utf8");
  const pass = Buffer.from(password, "utf8");
  if (user.length > 255 || pass.length > 255) throw new RangeError("RFC 1929 fields are at most 255 bytes");
  return Buffer.concat([Buffer.from([5, 1, 2, 1, user.length]), user, Buffer.from([pass.length]), pass]);
}

/**
 * One login. Resolves "allowed", "denied" or "error" and the latency in ms; never rejects.
 * @param {{host: string, port: number}} proxy
 * @param {Buffer} bytes from loginBytes
 * @param {number} timeoutMs
 */
export function loginOnce(proxy, bytes, timeoutMs) {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ host: proxy.host, port: proxy.port, noDelay: true });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A reset instead of a FIN: no TIME_WAIT pile-up on the client side during long runs.
      if (typeof socket.resetAndDestroy === "function" && !socket.destroyed && socket.readyState === "open") {
        socket.resetAndDestroy();
      } else {
        socket.destroy();
      }
      resolve({ outcome, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish("error"), timeoutMs);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      if (received[0] !== 5 || received[1] !== 2) return finish("error");
      if (received.length < 4) return;
      finish(received[2] === 1 && received[3] === 0 ? "allowed" : "denied");
    });
    socket.on("error", () => finish("error"));
    socket.on("close", () => finish(received.length >= 4 ? "denied" : "error"));
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Closed-loop load: `concurrency` workers log in back to back until `durationMs` passes or
 * `maxLogins` were started, cycling through `credentials` (distinct users defeat the cache and
 * the coalescing of identical attempts; one user measures them).
 * @param {{proxy: {host: string, port: number}, credentials: {username: string, password: string}[],
 *          concurrency: number, durationMs: number, maxLogins?: number, timeoutMs?: number}} options
 */
export async function runLoginLoad({
  proxy,
  credentials,
  concurrency,
  durationMs,
  maxLogins = Infinity,
  timeoutMs = 10_000,
}) {
  if (credentials.length === 0) throw new Error("runLoginLoad: no credentials");
  const encoded = credentials.map(loginBytes);
  const counts = { allowed: 0, denied: 0, error: 0 };
  const latencies = [];
  let next = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  async function worker() {
    while (performance.now() < deadline && next < maxLogins) {
      const bytes = encoded[next % encoded.length];
      next += 1;
      const { outcome, ms } = await loginOnce(proxy, bytes, timeoutMs);
      counts[outcome] += 1;
      latencies.push(ms);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const total = counts.allowed + counts.denied + counts.error;
  return {
    logins: total,
    ...counts,
    seconds: Number(seconds.toFixed(2)),
    per_second: Number((total / seconds).toFixed(1)),
    p50_ms: Number(percentile(latencies, 50).toFixed(1)),
    p99_ms: Number(percentile(latencies, 99).toFixed(1)),
  };
}

/**
 * Open burst: `count` identical logins started at once (measures coalescing of concurrent
 * identical attempts). Resolves when all settled.
 */
export async function runLoginBurst({ proxy, credentials, count, timeoutMs = 30_000 }) {
  const bytes = loginBytes(credentials);
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: count }, () => loginOnce(proxy, bytes, timeoutMs)));
  const counts = { allowed: 0, denied: 0, error: 0 };
  for (const { outcome } of results) counts[outcome] += 1;
  const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
  return {
    logins: count,
    ...counts,
    seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    p50_ms: Number(percentile(latencies, 50).toFixed(1)),
    p99_ms: Number(percentile(latencies, 99).toFixed(1)),
  };
}
