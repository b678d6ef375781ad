/**
 * Requests and one-way notes between the `workers` primary and a worker, over the IPC channel
 * node:cluster sets up. Each side sends plain JSON objects; a request carries an `id` its reply
 * echoes, and is answered within a deadline or fails (a caller decides what failing means —
 * limits and the throttle fail closed).
 */

/** What crosses the channel: a request, its reply, or a one-way note. */
export type Envelope =
  | { readonly kind: "request"; readonly id: number; readonly body: Message }
  | { readonly kind: "reply"; readonly id: number; readonly ok: true; readonly body: unknown }
  | { readonly kind: "reply"; readonly id: number; readonly ok: false; readonly error: string }
  | { readonly kind: "note"; readonly body: Message };

/** Any message: its `type` names it; the rest is plain JSON. */
export interface Message {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** One end of the channel: `process` in a worker, a cluster Worker in the primary. */
export interface Endpoint {
  /** A failed send (the peer exited) is reported to `callback`, never thrown or emitted. */
  send(message: Envelope, callback: (error: Error | null) => void): unknown;
  on(event: "message", listener: (message: unknown) => void): unknown;
  off(event: "message", listener: (message: unknown) => void): unknown;
}

export type RequestHandler = (body: Message) => unknown;
export type NoteHandler = (body: Message) => void;

/** A note or a reply that cannot be sent has nobody left to tell. */
const IGNORE = (): void => undefined;

/** A request that got no reply within its deadline, or whose peer went away. */
export class RpcError extends Error {}

export class RpcPeer {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout }
  >();
  private readonly onMessage = (message: unknown): void => this.receive(message);

  constructor(
    private readonly endpoint: Endpoint,
    private readonly handlers: { readonly request?: RequestHandler; readonly note?: NoteHandler },
  ) {
    endpoint.on("message", this.onMessage);
  }

  /** Sends `body` and resolves with the peer's answer; rejects after `timeoutMs` or on `closed()`. */
  request<T>(body: Message, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new RpcError(`no answer to ${body.type} within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.send({ kind: "request", id, body }, (error) => {
        const entry = this.waiting.get(id);
        if (entry === undefined) return;
        this.waiting.delete(id);
        clearTimeout(entry.timer);
        entry.reject(new RpcError(`${body.type} not sent: ${error.message}`));
      });
    });
  }

  note(body: Message): void {
    this.send({ kind: "note", body });
  }

  /** The peer is gone: every request waiting fails now, and the channel is no longer read. */
  closed(why: string): void {
    this.endpoint.off("message", this.onMessage);
    for (const [id, entry] of this.waiting) {
      clearTimeout(entry.timer);
      this.waiting.delete(id);
      entry.reject(new RpcError(why));
    }
  }

  private send(envelope: Envelope, onError: (error: Error) => void = IGNORE): void {
    const failed = (error: Error | null): void => {
      if (error !== null) onError(error);
    };
    try {
      this.endpoint.send(envelope, failed);
    } catch (error) {
      failed(error as Error); // the channel was already closed
    }
  }

  private receive(message: unknown): void {
    if (typeof message !== "object" || message === null || !("kind" in message)) return;
    const envelope = message as Envelope;
    switch (envelope.kind) {
      case "note":
        this.handlers.note?.(envelope.body);
        return;
      case "reply": {
        const entry = this.waiting.get(envelope.id);
        if (entry === undefined) return;
        this.waiting.delete(envelope.id);
        clearTimeout(entry.timer);
        if (envelope.ok) entry.resolve(envelope.body);
        else entry.reject(new RpcError(envelope.error));
        return;
      }
      case "request":
        this.answer(envelope.id, envelope.body);
        return;
    }
  }

  private answer(id: number, body: Message): void {
    const fail = (error: unknown): void =>
      this.send({ kind: "reply", id, ok: false, error: error instanceof Error ? error.message : String(error) });
    let result: unknown;
    try {
      if (this.handlers.request === undefined) throw new Error(`no handler for ${body.type}`);
      result = this.handlers.request(body);
    } catch (error) {
      return fail(error);
    }
    if (result instanceof Promise) {
      result.then((value: unknown) => this.send({ kind: "reply", id, ok: true, body: value }), fail);
    } else {
      this.send({ kind: "reply", id, ok: true, body: result });
    }
  }
}
