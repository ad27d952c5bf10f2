import type { Request, Response } from "express";
import { z } from "zod";
import { canonicalCursor } from "./ids.js";

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 40;

/** A keyset cursor; ids issued before the letter form still page from where they stand (src/http/ids.ts). */
const cursor = z.string().min(1).transform(canonicalCursor).optional();

/** Mastodon pagination parameters; `limit` above 40 is clamped (as Pleroma does), below 1 refused. */
export const pageQuery = z.object({
  max_id: cursor,
  min_id: cursor,
  since_id: cursor,
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .default(DEFAULT_LIMIT)
    .transform((n) => Math.min(n, MAX_LIMIT)),
});

/** The keyset cursors of a parsed `pageQuery`, as the views take them. */
export function pageOf(query: z.infer<typeof pageQuery>) {
  return { maxId: query.max_id, minId: query.min_id, sinceId: query.since_id, limit: query.limit };
}

/**
 * `Link` with `next` (older: max_id = last id) and `prev` (newer: min_id = first id). Other query
 * parameters are kept; the cursors of the current request are not, so both links work on every
 * page (Pleroma's prev link keeps max_id from page 2 on). Like Pleroma's, the links name the
 * `limit` in force even when the request left it to the default, so a client that follows them
 * keeps its page size. Every caller parses its query with `pageQuery` (default DEFAULT_LIMIT).
 */
export function setLinkHeader(
  req: Request,
  res: Response,
  publicUrl: string,
  items: { id: string }[],
  /** The cursor of each item, when it is not the item's id (v2 chats page by their sort key). */
  cursors: string[] = items.map((item) => item.id),
): void {
  if (items.length === 0) return;
  const link = (cursor: "max_id" | "min_id", id: string) => {
    const url = new URL(req.path, publicUrl);
    for (const [key, value] of Object.entries(req.query)) {
      if (key === "max_id" || key === "min_id" || key === "since_id") continue;
      for (const v of [value].flat()) if (typeof v === "string") url.searchParams.append(key, v);
    }
    if (!url.searchParams.has("limit")) url.searchParams.set("limit", String(DEFAULT_LIMIT));
    url.searchParams.set(cursor, id);
    return url.href;
  };
  res.set("Link", `<${link("max_id", cursors[cursors.length - 1])}>; rel="next", <${link("min_id", cursors[0])}>; rel="prev"`);
}
