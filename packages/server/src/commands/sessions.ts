import { GatehouseError } from "@gatehouse-proxy/core";
import { adminTarget, callAdmin } from "./admin-client.js";
import type { AdminTarget } from "./admin-client.js";
import { display } from "./display.js";
import type { SessionsCommand } from "./sessions-args.js";

/** The page size the CLI asks for (the API's largest). */
const PAGE = 1000;

/** The fields of a session row the CLI prints (the API's shape, docs/admin-api.md). */
interface Row {
  readonly id: string;
  readonly peer: string;
  readonly identity: string | null;
  readonly destination: { readonly name: string | null; readonly address: string | null; readonly port: number | null };
  readonly bytes: { readonly up: number; readonly down: number };
  readonly started: string;
  readonly relay: string | null;
  /** A UDP association's relay endpoint; null for a tunnel. */
  readonly udp: { readonly relay: string } | null;
  readonly worker: number | null;
}

interface Listing {
  readonly sessions: Row[];
  readonly total: number;
  readonly next_cursor: string | null;
  /** Absent from a server older than this CLI. */
  readonly unanswered_workers?: readonly number[];
}

/** Every session the pages listed, and the workers that did not answer some page. */
interface Gathered {
  readonly rows: Row[];
  readonly unanswered: readonly number[];
}

/** `gatehouse sessions list|close`: the admin API of a running server. */
export async function sessionsCommand(
  command: SessionsCommand,
  out: NodeJS.WritableStream = process.stdout,
  now: () => number = Date.now,
): Promise<void> {
  const target = await adminTarget(command.admin, command.config);
  if (command.action === "close") {
    const { closed } = (await callAdmin(target, "/api/sessions/close", command.filter)) as { closed: number };
    const [[key, value] = ["", ""]] = Object.entries(command.filter);
    out.write(
      command.json
        ? `${JSON.stringify({ closed })}\n`
        : `closed ${String(closed)} session${closed === 1 ? "" : "s"} (${key} ${display(value)})\n`,
    );
    return;
  }
  const { rows, unanswered } = await listAll(target, command.filter);
  if (command.json) {
    out.write(`${JSON.stringify({ sessions: rows, total: rows.length, unanswered_workers: unanswered })}\n`);
    return;
  }
  out.write(formatTable(rows, now()));
  if (unanswered.length > 0) {
    out.write(`worker ${unanswered.join(", ")} did not answer in time: its sessions are missing above\n`);
  }
}

/** Every page, following next_cursor. */
async function listAll(target: AdminTarget, filter: SessionsCommand["filter"]): Promise<Gathered> {
  const rows: Row[] = [];
  const unanswered = new Set<number>();
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ ...filter, limit: String(PAGE), ...(cursor !== null && { cursor }) });
    const page = (await callAdmin(target, `/api/sessions?${query.toString()}`)) as Listing;
    if (!Array.isArray(page.sessions))
      throw new GatehouseError("GH_ADMIN_FAILED", "admin API: no sessions in the answer");
    rows.push(...page.sessions);
    for (const worker of page.unanswered_workers ?? []) unanswered.add(worker);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return { rows, unanswered: [...unanswered].sort((a, b) => a - b) };
}

/** One line per session under a header, columns padded; names JSON-quoted when not printable. */
export function formatTable(rows: readonly Row[], now: number): string {
  const withWorker = rows.some((row) => row.worker !== null);
  const header = ["ID", "IDENTITY", "PEER", "DESTINATION", "UP", "DOWN", "AGE", "RELAY"];
  const lines = rows.map((row) => [
    row.id,
    row.identity === null ? "-" : display(row.identity),
    row.peer,
    destinationOf(row),
    String(row.bytes.up),
    String(row.bytes.down),
    age(now - Date.parse(row.started)),
    row.relay ?? "-",
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  const summary = `${String(rows.length)} session${rows.length === 1 ? "" : "s"}${withWorker ? " (ids are WORKER-SESSION)" : ""}\n`;
  return rows.length === 0 ? summary : `${[format(header), ...lines.map(format)].join("\n")}\n${summary}`;
}

function destinationOf(row: Row): string {
  if (row.udp) return `udp via ${row.udp.relay}`;
  const { name, address, port } = row.destination;
  if (name !== null) {
    const shown = `${display(name)}:${String(port ?? "")}`;
    return address === null ? shown : `${shown} (${address})`;
  }
  return address ?? "-";
}

function age(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${String(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${String(minutes)}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${String(Math.floor(minutes / 60))}h${String(minutes % 60).padStart(2, "0")}m`;
}
