import { readFile } from "node:fs/promises";
import type { Logger } from "../log.js";

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

export function sameTlsMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.cert === b.cert && a.key === b.key;
}

/** Reads the configured PEM files, or generates a self-signed certificate when none is configured. */
export async function loadTlsMaterial(
  files: { readonly certificateFile?: string; readonly privateKeyFile?: string },
  listenerName: string,
  logger: Logger,
): Promise<TlsMaterial> {
  if (files.certificateFile !== undefined && files.privateKeyFile !== undefined) {
    const [cert, key] = await Promise.all([
      readPem(files.certificateFile, "tls_certificate"),
      readPem(files.privateKeyFile, "tls_private_key"),
    ]);
    return { cert, key };
  }
  // selfsigned pulls in ~180 modules of X.509 code: loaded only when a certificate is generated.
  const { generate } = await import("selfsigned");
  const pems = await generate([{ name: "commonName", value: "gatehouse" }], {
    keyType: "ec",
    curve: "P-256",
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    algorithm: "sha256",
    extensions: [
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  logger.warn(
    { listener: listenerName },
    "use_tls without tls_certificate: serving a generated self-signed certificate",
  );
  return { cert: pems.cert, key: pems.private };
}

async function readPem(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new Error(
      `${option}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
