import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
}

/** The real curl through a SOCKS5 proxy (ATYP domain); never throws on a non-zero exit (97 = refused). */
export function curlThrough(proxyPort: number, url: string, user: string): Promise<CurlResult> {
  const args = [
    "--silent",
    "--max-time",
    "20",
    "--socks5-hostname",
    `127.0.0.1:${String(proxyPort)}`,
    "--proxy-user",
    user,
    url,
  ];
  return new Promise((resolve) => {
    execFile("curl", args, (error, stdout) => {
      resolve({ exitCode: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout });
    });
  });
}

/** A local HTTP server answering `hello <path>`. */
export async function startHttp(): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((request, response) => response.end(`hello ${request.url ?? ""}`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
