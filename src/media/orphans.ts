import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { sql } from "drizzle-orm";
import { media, messages } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { mediaRoot, removeStored } from "./storage.js";

/**
 * Uploads no message refers to, older than MEDIA_ORPHAN_TTL, go: the row, then its file. An
 * upload is "attached" while some message's `media_id` names it (a deleted message lets go of
 * its file, which then goes too). Housekeeping runs this every 10 minutes.
 *
 * An upload being attached at this very moment keeps its file: the rows are locked first
 * (skipping any a sending transaction holds: local-message.service reads the upload FOR KEY SHARE), and
 * whether a message names them is asked again once they are locked, when no sender can add one
 * before this commits. Files are removed after the commit. Temporary files of uploads cut by a
 * crash are removed once they are an hour old.
 */

/**
 * Rows per run (every 10 minutes: 144,000 a day, above what the API rate limit lets one token
 * upload); each deletion looks up messages naming the upload, through `messages_media_idx`.
 */
const BATCH = 1_000;
/** A temporary file older than this belongs to no upload in progress (those are cut by HTTP_REQUEST_TIMEOUT_MS). */
const STALE_TEMPORARY_MS = 3_600_000;

type OrphanDeps = Pick<Deps, "db" | "config" | "logger">;

export interface OrphanSweep {
  orphanUploads: number;
  temporaryFiles: number;
}

const unattached = sql`NOT EXISTS (SELECT 1 FROM ${messages} WHERE ${messages.mediaId} = ${media.id})`;

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

export async function removeOrphanUploads(deps: OrphanDeps): Promise<OrphanSweep> {
  const root = mediaRoot(deps.config.dataDir);
  // A worker on another machine without the shared media volume would drop rows and leave files.
  if (!(await isDirectory(root))) {
    deps.logger.warn({ dir: root }, "media folder not found here: unattached uploads are not removed (give this process DATA_DIR/media)");
    return { orphanUploads: 0, temporaryFiles: 0 };
  }
  const ttlSeconds = deps.config.mediaOrphanTtlMs / 1000;
  const old = sql`${media.createdAt} < now() - make_interval(secs => ${ttlSeconds})`;
  const paths = await deps.db.transaction(async (tx) => {
    const locked = await tx.execute<{ id: string }>(
      sql`SELECT ${media.id} AS id FROM ${media} WHERE ${old} AND ${unattached}
          ORDER BY ${media.createdAt} LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
    );
    if (locked.length === 0) return [];
    const ids = locked.map((row) => row.id);
    // A new statement: it sees every message committed while the rows were being locked.
    const deleted = await tx.execute<{ path: string }>(
      sql`DELETE FROM ${media} WHERE ${media.id} IN ${ids} AND ${unattached} RETURNING ${media.path} AS path`,
    );
    return deleted.map((row) => row.path);
  });
  await Promise.all(paths.map((file) => removeStored(deps.config.dataDir, file)));
  const temporaryFiles = await removeStaleTemporaryFiles(path.join(root, "tmp"));
  if (paths.length > 0) deps.logger.info({ count: paths.length }, "unattached uploads removed");
  return { orphanUploads: paths.length, temporaryFiles };
}

async function removeStaleTemporaryFiles(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if (Date.now() - (await stat(file)).mtimeMs > STALE_TEMPORARY_MS) {
        await rm(file, { force: true });
        removed++;
      }
    } catch {
      // Gone meanwhile: its upload finished.
    }
  }
  return removed;
}
