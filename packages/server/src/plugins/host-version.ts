import { createRequire } from "node:module";

/** The Gatehouse version plugins check their `gatehouse:` range against: @gatehouse-proxy/core's. */
export function hostVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("@gatehouse-proxy/core/package.json") as { version: string }).version;
}

/** This package's version, for `--version`. */
export function serverVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("../../package.json") as { version: string }).version;
}
