import { readFileSync, readdirSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The page's files, shipped in the package beside dist/ (no build step). */
export const STATUS_PAGE_FOLDER = fileURLToPath(new URL("../status-page/", import.meta.url));

/**
 * Scripts and styles from this origin only, no inline script or style attribute, no framing,
 * no plugins; fetches go to this origin (the admin API).
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The status page's routes: `/` and `/assets/<file>`, each answering its file. */
export type StatusPageRoutes = Record<string, (response: ServerResponse) => Promise<void>>;

/**
 * Reads the page's files once, at start: `index.html` is `/`, the others `/assets/<name>`. The
 * admin listener looks a request up by exact path in that table, so no path reaches another file
 * (no traversal, no directory listing). A missing folder or index.html is an error: a broken install.
 */
export function statusPageRoutes(folder = STATUS_PAGE_FOLDER): StatusPageRoutes {
  const routes: StatusPageRoutes = {};
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch (error) {
    throw new Error(
      `status page files missing (${folder}): ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  for (const name of names) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType === undefined) continue;
    const asset: Asset = { body: readFileSync(join(folder, name)), contentType };
    routes[name === "index.html" ? "/" : `/assets/${name}`] = (response) => {
      sendAsset(response, asset);
      return Promise.resolve();
    };
  }
  if (!Object.hasOwn(routes, "/")) throw new Error(`status page files missing: no index.html in ${folder}`);
  return routes;
}

function sendAsset(response: ServerResponse, asset: Asset): void {
  response.writeHead(200, {
    "Content-Type": asset.contentType,
    "Content-Length": asset.body.length,
    "Content-Security-Policy": STATUS_PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
  });
  response.end(asset.body);
}
