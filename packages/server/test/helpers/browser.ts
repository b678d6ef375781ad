import { accessSync, constants, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import type { Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";

/** Debian's `chromium` (installed by .ci/run; playwright-core downloads no browser); GATEHOUSE_CHROMIUM overrides. */
export function chromiumPath(): string {
  const path = process.env["GATEHOUSE_CHROMIUM"] ?? "/usr/bin/chromium";
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is not there: apt-get install chromium (see scripts/test-tiers/preflight.js)`);
  }
  return path;
}

/** Headless Chromium driven by playwright-core. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: ["--headless=new", "--no-sandbox"] });
}

/** Where a test's screenshots go: $GATEHOUSE_TEST_ARTIFACTS, else a folder under the OS temp folder. */
export function artifactsDir(name: string): string {
  const dir = join(process.env["GATEHOUSE_TEST_ARTIFACTS"] ?? join(tmpdir(), "gatehouse-test-artifacts"), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** An HTTP server whose responses never finish: a line every 100 ms, so a tunnel stays open. */
export async function startSlowHttp(): Promise<{ port: number; close(): void }> {
  const responses = new Set<ServerResponse>();
  const server: Server = createServer((_request, response) => {
    responses.add(response);
    response.writeHead(200, { "Content-Type": "text/plain" });
    const timer = setInterval(() => response.write("still here\n"), 100);
    response.write("still here\n");
    response.on("close", () => {
      clearInterval(timer);
      responses.delete(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      for (const response of responses) response.destroy();
      server.close();
    },
  };
}
