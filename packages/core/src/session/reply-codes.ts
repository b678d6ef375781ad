import { Reply } from "../protocol/constants.js";
import type { ReplyCode } from "../protocol/constants.js";

/** DESIGN §3's mapping of a failed dial (or DNS lookup) to the SOCKS reply code. */
export function replyForDialError(error: unknown): ReplyCode {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case "ECONNREFUSED":
      return Reply.ConnectionRefused;
    case "ENETUNREACH":
    case "ENETDOWN":
      return Reply.NetworkUnreachable;
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
    case "EAI_FAIL":
    case "EAI_NODATA":
    case "ENODATA":
    case "ETIMEOUT": // c-ares: no answer from the name servers in time
    case "ESERVFAIL":
      return Reply.HostUnreachable;
    case "ETIMEDOUT":
      return Reply.TtlExpired;
    default:
      return Reply.GeneralFailure;
  }
}
