import { and, eq } from "drizzle-orm";
import type { Request } from "express";
import type { AccountRow } from "../accounts/account.view.js";
import { media } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { newId } from "../shared/ids.js";
import type { MediaRow } from "./media.view.js";
import { claimUploadQuota } from "./quota.js";
import { checkedUpload, discardUpload, keepUpload, removeStored } from "./storage.js";
import { imageDimensions } from "./types.js";

/** Writes of uploaded media: the file is typed by its content, stored as `<id>.<ext>`, then recorded. */

export async function createMedia(deps: Deps, account: AccountRow, req: Request, description: string | null): Promise<MediaRow> {
  const { file, type } = await checkedUpload(req);
  const dimensions = type.kind === "image" ? await imageDimensions(file.path) : undefined;
  const id = newId();
  let stored: string | undefined;
  try {
    return await deps.db.transaction(async (tx) => {
      // Counted once received (a chunked body announces no size): over the quota, the temporary
      // file goes with the response and nothing is kept.
      await claimUploadQuota(tx, account.id, deps.config.mediaUploadQuota, file.size);
      stored = await keepUpload(deps.config.dataDir, file, `${id}.${type.ext}`);
      const [row] = await tx
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
    });
  } catch (error) {
    if (stored) await removeStored(deps.config.dataDir, stored);
    else await discardUpload(req);
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
