import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
}

/** Runs the real curl binary; never throws on a non-zero exit. */
export function curl(args: readonly string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile("curl", ["--silent", "--max-time", "15", ...args], (error, stdout) => {
      const exitCode = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ exitCode, stdout });
    });
  });
}

/** A local HTTP server answering `hello <path>`. */
export async function startHttp(): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => response.end(`hello ${request.url ?? ""}`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** curl through a SOCKS5 proxy, optionally with credentials. */
export function curlThrough(proxyPort: number, url: string, user?: string): Promise<CurlResult> {
  return curl([
    "--socks5-hostname",
    `127.0.0.1:${String(proxyPort)}`,
    ...(user === undefined ? [] : ["--proxy-user", user]),
    url,
  ]);
}
