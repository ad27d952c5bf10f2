import { and, eq } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { media } from "../db/schema/index.js";
import { isId } from "../shared/ids.js";
import { kindOf } from "./types.js";

/** Reads of uploaded media and their Mastodon `MediaAttachment` JSON. */

export type MediaRow = typeof media.$inferSelect;

/** Where a stored file is served (src/media/files.ts). */
export function mediaUrl(relativePath: string, publicUrl: string): string {
  return `${publicUrl}/media/${relativePath}`;
}

/** Mastodon's `MediaAttachment`, with Pleroma's `pleroma.mime_type`. */
export function renderAttachment(row: MediaRow, publicUrl: string) {
  const url = mediaUrl(row.path, publicUrl);
  const { width, height } = row;
  return {
    id: row.id,
    type: kindOf(row.contentType),
    url,
    remote_url: null,
    // No thumbnails are made: the preview is the file itself, as Pleroma serves it.
    preview_url: url,
    text_url: url,
    description: row.description,
    blurhash: null,
    meta: width && height ? { original: { width, height, size: `${width}x${height}`, aspect: width / height } } : {},
    pleroma: { mime_type: row.contentType },
  };
}

export type AttachmentJson = ReturnType<typeof renderAttachment>;

/** An account's own upload; undefined for anyone else's, an unknown or a malformed id. */
export async function findOwnMedia(db: Executor, accountId: string, id: string): Promise<MediaRow | undefined> {
  if (!isId(id)) return undefined;
  const [row] = await db
    .select()
    .from(media)
    .where(and(eq(media.id, id), eq(media.accountId, accountId)))
    .limit(1);
  return row;
}

/** An account's own upload by the URL it is served at (the C2S outbox's attachments). */
export async function findOwnMediaByUrl(db: Executor, accountId: string, url: string, publicUrl: string): Promise<MediaRow | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const file = /^\/media\/([0-9a-z]{26}\.[0-9a-z]{2,5})$/.exec(parsed.pathname);
  if (parsed.origin !== new URL(publicUrl).origin || parsed.search || !file) return undefined;
  const relative = file[1];
  const [row] = await db
    .select()
    .from(media)
    .where(and(eq(media.path, relative), eq(media.accountId, accountId)))
    .limit(1);
  return row;
}
