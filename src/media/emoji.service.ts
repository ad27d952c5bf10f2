import { and, asc, eq, isNull } from "drizzle-orm";
import type { Request } from "express";
import type { Executor } from "../db/database.js";
import { customEmojis } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { DomainError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import { mediaUrl } from "./media.view.js";
import { checkedUpload, discardUpload, EMOJI_DIR, keepUpload, removeStored } from "./storage.js";

/**
 * Local custom emoji (`custom_emojis` rows with no domain). `:shortcode:` in a local message picks
 * them up when it is composed (local-message.service → `emojis` in the JSON, `Emoji` tags on the wire).
 */

type EmojiRow = typeof customEmojis.$inferSelect;

export const SHORTCODE = /^[A-Za-z0-9_]{2,64}$/;

/** Mastodon's `CustomEmoji`. */
export function renderCustomEmoji(row: EmojiRow) {
  return {
    shortcode: row.shortcode,
    url: row.url,
    static_url: row.staticUrl,
    visible_in_picker: row.visibleInPicker,
    category: row.category,
  };
}

export async function listLocalEmojis(db: Executor) {
  const rows = await db.select().from(customEmojis).where(isNull(customEmojis.domain)).orderBy(asc(customEmojis.shortcode));
  return rows.map(renderCustomEmoji);
}

/** Adds a local emoji from an uploaded image: 422 `invalid_shortcode`, 422 `unsupported_media_type`, 409 `shortcode_taken`. */
export async function createLocalEmoji(deps: Deps, req: Request, input: { shortcode?: string | null; category?: string | null }) {
  const shortcode = input.shortcode?.trim().replace(/^:(.*):$/, "$1") ?? "";
  if (!SHORTCODE.test(shortcode)) {
    await discardUpload(req);
    throw new DomainError("unprocessable", "invalid_shortcode", { field: "shortcode" });
  }
  const { file, type } = await checkedUpload(req, (t) => t.kind === "image");
  const taken = () => new DomainError("conflict", "shortcode_taken", { field: "shortcode" });
  if (await findLocalEmoji(deps.db, shortcode)) {
    await discardUpload(req);
    throw taken();
  }
  const id = newId();
  const stored = await keepUpload(deps.config.dataDir, file, `${EMOJI_DIR}/${id}.${type.ext}`);
  const url = mediaUrl(stored, deps.config.publicUrl);
  const [row] = await deps.db
    .insert(customEmojis)
    .values({
      id,
      shortcode,
      domain: null,
      url,
      staticUrl: url,
      path: stored,
      contentType: type.mime,
      category: input.category?.trim() || null,
    })
    .onConflictDoNothing()
    .returning()
    .catch(async (error: unknown) => {
      await removeStored(deps.config.dataDir, stored);
      throw error;
    });
  if (!row) {
    // Another upload of the same shortcode won the race.
    await removeStored(deps.config.dataDir, stored);
    throw taken();
  }
  return renderCustomEmoji(row);
}

export async function findLocalEmoji(db: Executor, shortcode: string): Promise<EmojiRow | undefined> {
  const [row] = await db
    .select()
    .from(customEmojis)
    .where(and(eq(customEmojis.shortcode, shortcode), isNull(customEmojis.domain)))
    .limit(1);
  return row;
}

/** Removes a local emoji and its file. Messages that used it keep their copy of its URL (now a 404). */
export async function deleteLocalEmoji(deps: Deps, shortcode: string) {
  const [row] = await deps.db
    .delete(customEmojis)
    .where(and(eq(customEmojis.shortcode, shortcode), isNull(customEmojis.domain)))
    .returning();
  if (!row) return undefined;
  if (row.path) await removeStored(deps.config.dataDir, row.path);
  return renderCustomEmoji(row);
}
