/**
 * Readers of ActivityStreams JSON as a remote server sent it (Fedify's parse loses the shapes that
 * matter here: a `type` array, a string `to`, an AS-only context). Pure and forgiving: a value of
 * the wrong shape reads as undefined or empty, never throws. The inbox rules
 * (inbox/chat-message-rules.ts), the inbound worker and the C2S outbox read the JSON through them.
 */

export type Json = Record<string, unknown>;

export function isJsonObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An http(s) URL with a host, or undefined. */
export function httpUrl(value: unknown): URL | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.host !== "" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The id of a reference: a string, or an object carrying `id` (ObjectID's cast). */
export function idOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isJsonObject(value) && typeof value.id === "string") return value.id;
  return undefined;
}

/** Two URIs naming the same resource, whatever the spelling of the host (`new URL().href`). */
export function sameUri(a: unknown, b: unknown): boolean {
  const x = httpUrl(a);
  const y = httpUrl(b);
  return x !== undefined && y !== undefined && x.href === y.href;
}

/**
 * Pleroma's `Recipients` cast: a string or a list; entries that are not http(s) URLs are dropped
 * silently; de-duplicated. Normalised (`URL.href`) so sets compare whatever the spelling.
 */
export function recipientsOf(value: unknown): string[] {
  const entries = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  const urls = entries.map((entry) => httpUrl(idOf(entry))?.href).filter((href): href is string => href !== undefined);
  return [...new Set(urls)].sort();
}

/** The type names of an object (`type` may be a string or a list). */
export function typesOf(object: Json): string[] {
  return [object.type].flat().filter((t): t is string => typeof t === "string");
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * An ISO-8601 date-time, as Pleroma reads it: a missing offset means UTC; fractions of any length
 * (Lemmy sends microseconds) are kept to the millisecond. Out-of-range fields are invalid.
 */
export function parsePublished(value: unknown): Date | undefined {
  if (typeof value !== "string") return undefined;
  const m = ISO_8601.exec(value.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const second = m[6] ? Number(m[6]) : 0;
  const millis = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (zone[0] === "-" ? -1 : 1) * (hours * 60 + minutes);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC rolls 31 February over into March: refuse such dates.
  if (new Date(utc).getUTCDate() !== day) return undefined;
  const date = new Date(utc - offsetMinutes * 60_000);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** `content`, or the first value of `contentMap`; "" when there is none. */
export function contentOf(object: Json): string {
  if (typeof object.content === "string") return object.content;
  if (isJsonObject(object.contentMap)) {
    const first = Object.values(object.contentMap).find((v): v is string => typeof v === "string");
    if (first !== undefined) return first;
  }
  return "";
}

/** The first usable href of a `url` (a string, a Link, or a list of either). */
export function hrefOf(value: unknown): { href: string; link?: Json } | undefined {
  for (const entry of [value].flat()) {
    if (httpUrl(entry)) return { href: entry as string };
    if (isJsonObject(entry) && httpUrl(entry.href)) return { href: entry.href as string, link: entry };
  }
  return undefined;
}
