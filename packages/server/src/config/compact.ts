/** Drops keys whose value is undefined (zod's optional output vs exactOptionalPropertyTypes). */
export type Compact<T> = { [K in keyof T]: Exclude<T[K], undefined> };

export function compact<T extends object>(value: T): Compact<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Compact<T>;
}
