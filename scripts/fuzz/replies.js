// Checks everything the proxy sent on one connection: each reply well-formed for its stage
// (RFC 1928 method selection, RFC 1929 status, RFC 1928 reply) and nothing after a failure.
// Bytes after a success reply to a request belong to the tunnel (or a BIND's next reply) and
// are not parsed.

/**
 * @param {Uint8Array} received all bytes the proxy sent
 * @param {boolean} closed the proxy closed the connection (else the client gave up waiting)
 * @param {ReturnType<import("./model.js").parseSent>} model what the proxy received
 * @returns {{problems: string[], replies: number, method?: number, authStatus?: number,
 *   reply?: number, boundPort?: number}}
 */
export function checkReplies(received, closed, model) {
  const problems = [];
  const out = { problems, replies: 0 };
  let pos = 0;
  const left = () => received.length - pos;
  const expectEnd = (after) => {
    if (left() > 0) problems.push(`${String(left())} byte(s) after ${after}`);
  };
  const truncated = (what) => {
    if (left() > 0) problems.push(`truncated ${what} (${String(left())} of its bytes${closed ? ", then close" : ""})`);
  };

  if (left() < 2) return (truncated("method selection"), out);
  const [version, method] = [received[0], received[1]];
  pos = 2;
  out.replies = 1;
  out.method = method;
  if (version !== 5) problems.push(`method selection version ${String(version)}`);
  if (method === 0x00) problems.push("no-auth method chosen on a require_auth listener");
  else if (method !== 0x02 && method !== 0xff) problems.push(`method ${String(method)} chosen`);
  if (model.method !== undefined && method !== model.method) {
    problems.push(`method ${String(method)} chosen, the client's offer calls for ${String(model.method)}`);
  }
  if (method === 0xff) return (expectEnd("method refusal"), out);

  if (method === 0x02) {
    if (left() < 2) return (truncated("auth status"), out);
    const [authVersion, status] = [received[pos], received[pos + 1]];
    pos += 2;
    out.replies = 2;
    out.authStatus = status;
    if (authVersion !== 1) problems.push(`auth status version ${String(authVersion)}`);
    if (status === 0 && model.authOk === false) problems.push("auth success for wrong credentials");
    if (status === 0 && model.authOk === undefined) problems.push("auth success before the credentials were complete");
    if (status !== 0) return (expectEnd("auth failure"), out);
  }

  if (left() < 4) return (truncated("request reply"), out);
  const [replyVersion, reply, reserved, atyp] = received.subarray(pos, pos + 4);
  let length;
  if (atyp === 1) length = 10;
  else if (atyp === 4) length = 22;
  else if (atyp === 3) length = left() >= 5 ? 7 + received[pos + 4] : Infinity;
  else {
    problems.push(`request reply address type ${String(atyp)}`);
    return out;
  }
  if (left() < length) return (truncated("request reply"), out);
  out.replies = 3;
  out.reply = reply;
  out.boundPort = (received[pos + length - 2] << 8) | received[pos + length - 1];
  if (replyVersion !== 5) problems.push(`request reply version ${String(replyVersion)}`);
  if (reply > 8) problems.push(`reply code ${String(reply)}`);
  if (reserved !== 0) problems.push(`request reply reserved byte ${String(reserved)}`);
  pos += length;
  if (reply === 0 && model.request === undefined)
    problems.push("success reply to a request that is not complete and valid");
  if (reply !== 0) expectEnd(`reply ${String(reply)}`);
  return out;
}
