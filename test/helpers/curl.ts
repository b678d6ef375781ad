import { execFile } from "node:child_process";

export interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real curl binary; never throws on a non-zero exit. */
export function curl(args: readonly string[], timeoutMs = 15000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      ["--silent", "--show-error", "--max-time", String(timeoutMs / 1000), ...args],
      (error, stdout, stderr) => {
        const exitCode = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}
