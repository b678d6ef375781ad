import { AdminRequestError, providerRow } from "@gatehouse-proxy/observability";
import type { AuthDecisionRow, OperatorApi, ProviderReport } from "@gatehouse-proxy/observability";
import type { Logger as PinoLogger } from "pino";
import type { ProcessSessionPage } from "../operator/process-view.js";
import type { Message } from "./rpc.js";
import type {
  AuthRecentRequest,
  CloseSessionsRequest,
  ProviderReportsRequest,
  SessionsRequest,
} from "./worker-protocol.js";
import type { WorkerPool } from "./worker-pool.js";

/** What a worker answers to each request of the operator's view. */
interface WorkerAnswers {
  sessions: ProcessSessionPage;
  close_sessions: number;
  auth_recent: AuthDecisionRow[];
  provider_reports: ProviderReport[];
}

/** What the primary needs of its pool. */
type Pool = Pick<WorkerPool, "askEach">;

/**
 * The operator's view of a `workers` primary: every answer gathered from the workers over IPC.
 * Session ids are `WORKER-ID` (`2-17`); pages run through the workers in order (a cursor names
 * the worker and the session it stopped at), and `total` counts every worker's matches. A worker
 * that does not answer in time is left out, with a warning (and, in a listing, named in
 * `unanswered_workers`).
 */
export function primaryOperator(pool: Pool, logger: PinoLogger): OperatorApi {
  const ask = async <K extends keyof WorkerAnswers>(
    type: K,
    requestFor: (worker: number) => (Message & { readonly type: K }) | undefined,
  ): Promise<{ answers: { worker: number; answer: WorkerAnswers[K] }[]; failed: number[] }> => {
    const { answers, failed } = await pool.askEach(requestFor);
    if (failed.length > 0) {
      logger.warn(
        { event: "admin_workers_unanswered", request: type, workers: failed },
        `workers ${failed.join(", ")} did not answer ${type}: left out`,
      );
    }
    // Each worker answers these requests with ProcessView's own results (worker.ts).
    return { answers: answers as { worker: number; answer: WorkerAnswers[K] }[], failed };
  };

  return {
    async listSessions({ cursor, limit, ...filter }) {
      const from = cursor === undefined ? undefined : parseWorkerSessionId(cursor, "cursor");
      const { answers, failed } = await ask("sessions", (worker): SessionsRequest => {
        // Workers before the cursor's are asked for their total only.
        const after =
          from === undefined || worker > from.worker ? 0 : worker === from.worker ? from.id : Number.MAX_SAFE_INTEGER;
        return { type: "sessions", query: { ...filter, limit, after } };
      });
      const rows = answers.flatMap(({ answer }) => answer.sessions);
      const page = rows.slice(0, limit);
      const more = rows.length > limit || answers.some(({ answer }) => answer.more);
      return {
        sessions: page,
        total: answers.reduce((sum, { answer }) => sum + answer.total, 0),
        next_cursor: more ? (page.at(-1)?.id ?? null) : null,
        unanswered_workers: failed,
      };
    },
    async closeSessions(selector) {
      if (!("id" in selector)) {
        const { answers } = await ask("close_sessions", (): CloseSessionsRequest => ({
          type: "close_sessions",
          selector,
        }));
        return answers.reduce((sum, { answer }) => sum + answer, 0);
      }
      const { worker, id } = parseWorkerSessionId(selector.id, "id");
      const { answers, failed } = await ask("close_sessions", (candidate): CloseSessionsRequest | undefined =>
        candidate === worker ? { type: "close_sessions", selector: { id } } : undefined,
      );
      if (failed.length > 0) throw new AdminRequestError(503, `worker ${String(worker)} did not answer`);
      const closed = answers[0]?.answer ?? 0;
      if (closed === 0) throw new AdminRequestError(404, `no live session with id ${selector.id}`);
      return closed;
    },
    async recentAuth(limit) {
      const { answers } = await ask("auth_recent", (): AuthRecentRequest => ({
        type: "auth_recent",
        limit,
      }));
      // ISO times of one format sort as text; newest first, across the workers.
      return answers
        .flatMap(({ answer }) => answer)
        .sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0))
        .slice(0, limit);
    },
    async providers() {
      const { answers } = await ask("provider_reports", (): ProviderReportsRequest => ({
        type: "provider_reports",
      }));
      const byName = new Map<string, ProviderReport[]>();
      for (const { answer } of answers) {
        for (const report of answer) byName.set(report.name, [...(byName.get(report.name) ?? []), report]);
      }
      return [...byName.values()].map((reports) => providerRow(reports));
    },
  };
}

/** `2-17`: worker 2's session 17 (ids and cursors under `workers`). */
export function parseWorkerSessionId(text: string, what: string): { worker: number; id: number } {
  const match = /^(\d{1,3})-(\d{1,15})$/.exec(text);
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new AdminRequestError(400, `${what}: expected WORKER-SESSION such as 2-17, got ${JSON.stringify(text)}`);
  }
  return { worker: Number(match[1]), id: Number(match[2]) };
}
