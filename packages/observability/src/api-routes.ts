import type { IncomingMessage } from "node:http";
import { MAX_SESSION_PAGE } from "@gatehouse-proxy/core/engine";
import { readJsonBody } from "./body.js";
import { AdminRequestError } from "./operator-view.js";
import type { CloseSelector, OperatorApi, SessionListQuery } from "./operator-view.js";
import { answerRevoke } from "./revoke-route.js";

/** The page size when `limit` is not given. */
export const DEFAULT_PAGE = 100;
const MAX_FILTER_LENGTH = 255;

/** One `/api/*` route: its method, whether it changes anything (logged at info), and what it answers. */
export interface ApiRoute {
  readonly method: "GET" | "POST";
  readonly changes: boolean;
  run(request: IncomingMessage, query: URLSearchParams): Promise<ApiAnswer>;
}

/** A JSON body, and for changing routes the fields its log line records. */
export interface ApiAnswer {
  readonly body: unknown;
  readonly logged?: { readonly action: string; readonly [field: string]: unknown };
}

/** The `/api/*` routes there is something behind: the operator's view, and revocation. */
export function apiRoutes(
  operator: OperatorApi | undefined,
  revoke: ((identity: string) => Promise<void>) | undefined,
): Map<string, ApiRoute> {
  const routes = new Map<string, ApiRoute>();
  if (operator !== undefined) {
    routes.set("/api/sessions", {
      method: "GET",
      changes: false,
      run: async (_, query) => ({ body: await operator.listSessions(parseSessionQuery(query)) }),
    });
    routes.set("/api/sessions/close", {
      method: "POST",
      changes: true,
      run: async (request) => {
        const selector = parseCloseSelector(await readJsonBody(request, '{"identity": "bob"}'));
        const closed = await operator.closeSessions(selector);
        return { body: { closed }, logged: { action: "close_sessions", ...selector, closed } };
      },
    });
    routes.set("/api/auth/recent", {
      method: "GET",
      changes: false,
      run: async (_, query) => ({ body: { decisions: await operator.recentAuth(parseLimit(query)) } }),
    });
    routes.set("/api/providers", {
      method: "GET",
      changes: false,
      run: async () => ({ body: { providers: await operator.providers() } }),
    });
  }
  if (revoke !== undefined) {
    routes.set("/api/revoke", {
      method: "POST",
      changes: true,
      run: async (request) => {
        const answer = await answerRevoke(request, revoke);
        return { body: answer, logged: { action: "revoke", identity: answer.revoked } };
      },
    });
  }
  return routes;
}

/** `?identity=&group=&peer=&destination=&limit=&cursor=`; empty values count as absent. */
export function parseSessionQuery(query: URLSearchParams): SessionListQuery {
  const text = (name: string): string | undefined => {
    const value = query.get(name);
    if (value === null || value === "") return undefined;
    if (value.length > MAX_FILTER_LENGTH) {
      throw new AdminRequestError(400, `${name}: at most ${String(MAX_FILTER_LENGTH)} characters`);
    }
    return value;
  };
  const identity = text("identity");
  const group = text("group");
  const peer = text("peer");
  const destination = text("destination");
  const cursor = text("cursor");
  return {
    limit: parseLimit(query),
    ...(identity !== undefined && { identity }),
    ...(group !== undefined && { group }),
    ...(peer !== undefined && { peer }),
    ...(destination !== undefined && { destination }),
    ...(cursor !== undefined && { cursor }),
  };
}

/** `?limit=N`: 1..1000, default 100. */
export function parseLimit(query: URLSearchParams): number {
  const value = query.get("limit");
  if (value === null || value === "") return DEFAULT_PAGE;
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > MAX_SESSION_PAGE) {
    throw new AdminRequestError(400, `limit: expected a whole number from 1 to ${String(MAX_SESSION_PAGE)}`);
  }
  return limit;
}

const SELECTOR_KEYS = ["id", "identity", "peer"] as const;

/** `{"id": "..."}`, `{"identity": "bob"}` or `{"peer": "127.0.0.1"}`: exactly one non-empty string. */
export function parseCloseSelector(body: unknown): CloseSelector {
  const usage = 'expected exactly one of {"id": "..."}, {"identity": "bob"}, {"peer": "127.0.0.1"}';
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new AdminRequestError(400, usage);
  const entries: [string, unknown][] = Object.entries(body as Record<string, unknown>);
  const [entry] = entries;
  if (entries.length !== 1 || entry === undefined) throw new AdminRequestError(400, usage);
  const [key, raw] = entry;
  if (!(SELECTOR_KEYS as readonly string[]).includes(key)) throw new AdminRequestError(400, usage);
  const value = key === "id" && typeof raw === "number" && Number.isSafeInteger(raw) ? String(raw) : raw;
  if (typeof value !== "string" || value === "" || value.length > MAX_FILTER_LENGTH) {
    throw new AdminRequestError(400, `${key}: expected a string of 1 to ${String(MAX_FILTER_LENGTH)} characters`);
  }
  return { [key]: value } as CloseSelector;
}
