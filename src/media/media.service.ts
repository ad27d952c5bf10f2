import { and, eq } from "drizzle-orm";
import type { Request } from "express";
import type { AccountRow } from "../accounts/account.view.js";
import { media } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { newId } from "../shared/ids.js";
import { checkedUpload, keepUpload, removeStored } from "./storage.js";
import { imageDimensions } from "./types.js";
import type { MediaRow } from "./media.view.js";

/** Writes of uploaded media: the file is typed by its content, stored as `<id>.<ext>`, then recorded. */

export async function createMedia(deps: Deps, account: AccountRow, req: Request, description: string | null): Promise<MediaRow> {
  const { file, type } = await checkedUpload(req);
  const dimensions = type.kind === "image" ? await imageDimensions(file.path) : undefined;
  const id = newId();
  const stored = await keepUpload(deps.config.dataDir, file, `${id}.${type.ext}`);
  try {
    const [row] = await deps.db
      .insert(media)
      .values({
        id,
        accountId: account.id,
        path: stored,
        contentType: type.mime,
        size: file.size,
        description: description?.trim() ? description : null,
        width: dimensions?.width ?? null,
        height: dimensions?.height ?? null,
      })
      .returning();
    return row;
  } catch (error) {
    await removeStored(deps.config.dataDir, stored);
    throw error;
  }
}

export async function updateMediaDescription(deps: Deps, row: MediaRow, description: string | null): Promise<MediaRow> {
  const [updated] = await deps.db
    .update(media)
    .set({ description: description?.trim() ? description : null })
    .where(and(eq(media.id, row.id), eq(media.accountId, row.accountId)))
    .returning();
  return updated;
}
