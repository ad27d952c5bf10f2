import { z } from "zod";
import { canonicalId } from "../shared/ids.js";

/**
 * Ids as clients send them back. Ids issued before migration 0007 (plain ULIDs, `01…`) are still
 * in clients' memory, in bookmarks and in Link headers; they name the same rows under today's
 * letter form (src/shared/ids.ts), so every id a route reads goes through one of these.
 */

/**
 * An id in a path, body or query: a legacy id becomes today's form of the same row; any other
 * string stays as given and matches no row (the route's lookup answers 404; `isId` still tells).
 */
export const apiId = z
  .string()
  .meta({ description: "An id (26 characters; ids issued before the letter form are accepted too)" })
  .transform((value) => canonicalId(value) ?? value);

/** The v2 chat list's cursor: `<updated_at in µs since the epoch>_<chat id>` (src/chats/chat.view.ts). */
const SORT_KEY = /^(\d{1,17})_([0-9a-z]{26})$/;

/**
 * A keyset cursor (`max_id`, `min_id`, `since_id`): an id or a v2 chat sort key, whose id part is
 * canonicalised, so cursors handed out before the upgrade page as before. Anything else is kept and
 * compared as a string: a decimal string (Pleroma-FE's temporary id of a message being sent, a
 * Mastodon-style integer id) sorts below every id, as Pleroma's integer-compatible ids do.
 */
export function canonicalCursor(value: string): string {
  const id = canonicalId(value);
  if (id) return id;
  const key = SORT_KEY.exec(value);
  const chatId = key && canonicalId(key[2]);
  return chatId ? `${key[1]}_${chatId}` : value;
}

/** A decimal string of at most 20 digits: what clients may hold in place of an id (see canonicalCursor). */
export const DECIMAL_ID = /^\d{1,20}$/;
