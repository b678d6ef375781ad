import { AdminRequestError, providerRow } from "@gatehouse-proxy/observability";
import type { OperatorApi } from "@gatehouse-proxy/observability";
import type { ProcessView } from "./process-view.js";

/** The operator's view of a process without workers: session ids and cursors are plain numbers. */
export function singleProcessOperator(view: ProcessView): OperatorApi {
  return {
    listSessions({ cursor, ...query }) {
      const page = view.listSessions({ ...query, ...(cursor !== undefined && { after: parseId(cursor, "cursor") }) });
      return Promise.resolve({
        sessions: page.sessions,
        total: page.total,
        next_cursor: page.more ? (page.sessions.at(-1)?.id ?? null) : null,
        unanswered_workers: [],
      });
    },
    closeSessions(selector) {
      if (!("id" in selector)) return Promise.resolve(view.closeSessions(selector));
      const closed = view.closeSessions({ id: parseId(selector.id, "id") });
      if (closed === 0) return Promise.reject(new AdminRequestError(404, `no live session with id ${selector.id}`));
      return Promise.resolve(closed);
    },
    recentAuth(limit) {
      return Promise.resolve(view.recentAuth(limit));
    },
    async providers() {
      return (await view.providerReports()).map((report) => providerRow([report]));
    },
  };
}

/** A session id (or a cursor, the id of a page's last session): a positive whole number. */
export function parseId(text: string, what: string): number {
  const id = Number(text);
  if (!/^\d{1,15}$/.test(text) || id < 1) {
    throw new AdminRequestError(400, `${what}: expected a session id such as 17, got ${JSON.stringify(text)}`);
  }
  return id;
}
