// Plays one case against the proxy: writes its bytes as the delivery plan says, collects
// everything the proxy sends, and stops when the proxy closes, when it has sent every reply
// the case is owed, or when waiting longer is pointless.
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import { PROXY_PORT } from "./topology.js";

/** How long to wait for bytes the proxy does not owe (incomplete input). */
const IDLE_MS = 100;
/** How long to wait for replies the proxy owes (complete input). */
const OWED_MS = 5000;

/**
 * @param {ReturnType<import("./cases.js").generateCase>} fuzzCase
 * @param {ReturnType<import("./model.js").parseSent>} model
 * @returns {Promise<{received: Uint8Array, closed: boolean, stalled: boolean, error?: string}>}
 */
export function playCase(fuzzCase, model, countReplies) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: PROXY_PORT, allowHalfOpen: true });
    const received = [];
    let closed = false;
    let done = false;
    let timer;
    let writing = true;
    const finish = (stalled = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Uint8Array.from(Buffer.concat(received)), closed, stalled });
    };
    const owedReceived = () => countReplies(Uint8Array.from(Buffer.concat(received))) >= model.owed;
    const arm = () => {
      clearTimeout(timer);
      if (writing) return;
      const owing = model.complete && fuzzCase.delivery.end === "wait" && !owedReceived();
      timer = setTimeout(() => finish(owing), owing ? OWED_MS : IDLE_MS);
    };
    socket.on("data", (chunk) => {
      received.push(chunk);
      if (!writing && model.complete && owedReceived()) finish();
      else arm();
    });
    socket.on("end", () => {
      closed = true;
      finish();
    });
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.on("error", () => {
      closed = true;
      finish();
    });
    socket.once("connect", async () => {
      for (const chunk of fuzzCase.delivery.chunks) {
        if (done) return;
        if (chunk.delayMs > 0) await new Promise((r) => setTimeout(r, chunk.delayMs));
        if (done) return;
        if (chunk.bytes.length > 0) socket.write(chunk.bytes);
      }
      writing = false;
      if (fuzzCase.delivery.end === "destroy") return finish();
      if (fuzzCase.delivery.end === "end") socket.end();
      if (model.complete && owedReceived()) return finish();
      arm();
    });
  });
}
