import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Where the syntax error in the module graph of `url` is (`/path/file.js:LINE:COLUMN`), or
 * undefined. Node's SyntaxError from import() carries no location; Node prints it only for an
 * uncaught error, so one child process imports the module and reads its stderr. A module graph
 * with a syntax error is never evaluated, so no plugin code runs in the child.
 */
export function syntaxErrorLocation(url: string): string | undefined {
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", "await import(process.argv[1])", url], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (child.error !== undefined) return undefined; // could not run: no location, the message stands
  const lines = child.stderr.split("\n");
  // file:///x.js:LINE for an ES module, /x.js:LINE when Node first tried it as CommonJS
  const at = lines.findIndex((line) => /^(file:\/\/|\/)\S*:\d+$/.test(line));
  if (at < 0) return undefined;
  const header = lines[at]!;
  const colon = header.lastIndexOf(":");
  const line = header.slice(colon + 1);
  const caret = lines[at + 2]?.indexOf("^") ?? -1;
  const column = caret >= 0 ? `:${String(caret + 1)}` : "";
  const file = header.slice(0, colon);
  return `${file.startsWith("file:") ? fileURLToPath(file) : file}:${line}${column}`;
}
