import type { Socket } from "node:net";
import type { RunningCli } from "./cli.js";
import { echoRoundTrip, openTunnel } from "./tunnel.js";

export interface ChurnUser {
  readonly username: string;
  readonly password: string;
}

export interface ChurnOptions {
  readonly proxy: RunningCli;
  readonly echoPort: number;
  readonly users: readonly ChurnUser[];
  readonly clients?: number;
  readonly reloads?: number;
  /** Pause after each reload before the next SIGHUP. */
  readonly pauseMs?: number;
  /** Tunnels opened before the first reload and used again after the last. */
  readonly longLived?: number;
}

export interface ChurnResult {
  /** Logins that were followed by a tunnel echoing its bytes. */
  readonly logins: number;
  /** Logins that completed while reloads were going on (after the first SIGHUP, before the last reload ended). */
  readonly loginsDuringReloads: number;
  readonly failures: readonly string[];
  readonly reloaded: number;
  readonly reloadFailures: number;
  readonly seconds: number;
}

/**
 * `clients` loops each log in, open a tunnel to the echo server, send bytes through it and
 * close it, over and over, while the proxy gets `reloads` SIGHUPs, one after another (each
 * waited for until its `config_reloaded` line). Long-lived tunnels opened before the first
 * SIGHUP must still echo after the last one. Every failure is kept with its message.
 */
export async function loginChurn(options: ChurnOptions): Promise<ChurnResult> {
  const { proxy, echoPort, users } = options;
  const clients = options.clients ?? 50;
  const reloads = options.reloads ?? 20;
  const port = proxy.ports[0]!;
  const failures: string[] = [];
  const startedAt = Date.now();
  const userAt = (index: number): ChurnUser => users[index % users.length]!;

  const longLived: Socket[] = [];
  for (let i = 0; i < (options.longLived ?? 10); i++) {
    const user = userAt(i);
    const tunnel = await openTunnel(port, echoPort, user.username, user.password);
    await echoRoundTrip(tunnel, `long-lived ${String(i)} before`);
    longLived.push(tunnel);
  }

  let logins = 0;
  let loginsDuringReloads = 0;
  let reloading = false;
  let stop = false;
  const loop = async (client: number): Promise<void> => {
    for (let round = 0; !stop; round++) {
      const user = userAt(client + round * clients);
      const text = `client ${String(client)} round ${String(round)}`;
      try {
        const tunnel = await openTunnel(port, echoPort, user.username, user.password);
        try {
          const echoed = await echoRoundTrip(tunnel, text);
          if (echoed !== text) throw new Error(`echoed ${JSON.stringify(echoed)}`);
        } finally {
          tunnel.destroy();
        }
        logins++;
        if (reloading) loginsDuringReloads++;
      } catch (error) {
        failures.push(`${user.username}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };
  const loops = Array.from({ length: clients }, (_, client) => loop(client));

  let reloaded = 0;
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    reloading = true;
    for (let i = 0; i < reloads; i++) {
      const from = proxy.stdout().length;
      process.kill(proxy.child.pid!, "SIGHUP");
      await proxy.waitForEvent("config_reloaded", from, 15_000);
      reloaded++;
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 100));
    }
  } finally {
    reloading = false;
    stop = true;
    await Promise.all(loops);
  }
  for (const [i, tunnel] of longLived.entries()) {
    try {
      await echoRoundTrip(tunnel, `long-lived ${String(i)} after`);
    } catch (error) {
      failures.push(`long-lived tunnel ${String(i)}: ${error instanceof Error ? error.message : String(error)}`);
    }
    tunnel.destroy();
  }
  const reloadFailures = proxy.stdout().split('"event":"reload_failed"').length - 1;
  return {
    logins,
    loginsDuringReloads,
    failures,
    reloaded,
    reloadFailures,
    seconds: (Date.now() - startedAt) / 1000,
  };
}
