import { monotonicFactory } from "ulid";

const ulid = monotonicFactory();

/** Opaque, time-sortable id (ULID, lower case): string order is creation order. */
export function newId(): string {
  return ulid().toLowerCase();
}

/** Accepts only strings shaped like our ids, so a bad id is a 404, never a database error. */
export function isId(value: unknown): value is string {
  return typeof value === "string" && /^[0-9a-hjkmnp-tv-z]{26}$/.test(value);
}
