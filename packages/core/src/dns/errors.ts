/**
 * Why a lookup found no address. ENOTFOUND: the name does not exist (NXDOMAIN); ENODATA: it
 * has no A or AAAA record; ETIMEOUT: no answer within timeout × tries; ESERVFAIL: the servers
 * failed, refused or could not be reached; ELOOKUPLIMIT: the client already has
 * max_in_flight_per_identity lookups waiting.
 */
export type DnsErrorCode = "ENOTFOUND" | "ENODATA" | "ETIMEOUT" | "ESERVFAIL" | "ELOOKUPLIMIT";

/** A failed lookup; `code` is what the session's reply and log reason are made from. */
export class DnsLookupError extends Error {
  constructor(
    readonly code: DnsErrorCode,
    readonly hostname: string,
    detail?: string,
  ) {
    super(`${code} ${hostname}${detail === undefined ? "" : `: ${detail}`}`);
    this.name = "DnsLookupError";
  }
}
