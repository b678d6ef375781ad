import { inspect } from "node:util";

export type Settled =
  | { readonly kind: "resolved"; readonly value: unknown }
  | { readonly kind: "rejected"; readonly error: unknown }
  | { readonly kind: "timeout" };

/** Waits for `start()` (a sync throw counts as a rejection) at most `ms`; never rejects. */
export async function settleWithin(start: () => Promise<unknown>, ms: number): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "timeout" }), ms);
  });
  const outcome = (async (): Promise<Settled> => {
    try {
      return { kind: "resolved", value: await start() };
    } catch (error) {
      return { kind: "rejected", error };
    }
  })();
  try {
    return await Promise.race([outcome, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything an error would show in a log line or a stack dump, causes included. */
export function errorText(error: unknown): string {
  // inspect shows the stack, every own property (enumerable or not) and the cause chain.
  return `${String(error)}\n${inspect(error, { depth: 8, showHidden: true })}`;
}

/** The first line of an error, for assertion messages. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split("\n")[0] ?? "";
}
