import { and, asc, count, desc, eq, gt, lt, or } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { mlsMailbox, mlsObjects } from "../db/schema/index.js";
import { type MailboxRow, selectMailbox } from "../streaming/mls-message.view.js";

/**
 * Reads of an owner's MLS mailbox (`mls_mailbox` joined to `mls_objects`), by the owner's own
 * sequence number: the `messages` collection, the JSON endpoint of the local API and the
 * `parley:mls_message` streaming event all show the same rows (one entry's JSON is the event's, in
 * src/streaming/mls-message.view.ts). Nothing here looks inside `content`.
 */

export interface MailboxPage {
  /** Only entries with a greater seq (exclusive). */
  afterSeq?: number;
  /** Only entries with a smaller seq (exclusive). */
  beforeSeq?: number;
  limit: number;
  /** "asc": the oldest entries after `afterSeq` first; "desc": the newest before `beforeSeq` first. */
  order: "asc" | "desc";
}

export async function mailboxEntries(db: Executor, ownerId: string, page: MailboxPage): Promise<MailboxRow[]> {
  const where = and(
    eq(mlsMailbox.ownerId, ownerId),
    page.afterSeq !== undefined ? gt(mlsMailbox.seq, page.afterSeq) : undefined,
    page.beforeSeq !== undefined ? lt(mlsMailbox.seq, page.beforeSeq) : undefined,
  );
  return selectMailbox(db, where)
    .orderBy(page.order === "asc" ? asc(mlsMailbox.seq) : desc(mlsMailbox.seq))
    .limit(page.limit);
}

export async function mailboxSize(db: Executor, ownerId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(mlsMailbox).where(eq(mlsMailbox.ownerId, ownerId));
  return row?.n ?? 0;
}

/** Whether the owner holds an entry older than `seq`. */
export async function hasEntryBefore(db: Executor, ownerId: string, seq: number): Promise<boolean> {
  const [row] = await db
    .select({ seq: mlsMailbox.seq })
    .from(mlsMailbox)
    .where(and(eq(mlsMailbox.ownerId, ownerId), lt(mlsMailbox.seq, seq)))
    .limit(1);
  return row !== undefined;
}

/** The seq of the owner's entry whose object or activity has this id; undefined when the owner holds none. */
export async function mailboxSeqOf(db: Executor, ownerId: string, id: string): Promise<number | undefined> {
  const [row] = await db
    .select({ seq: mlsMailbox.seq })
    .from(mlsMailbox)
    .innerJoin(mlsObjects, eq(mlsObjects.id, mlsMailbox.objectId))
    .where(and(eq(mlsMailbox.ownerId, ownerId), or(eq(mlsObjects.uri, id), eq(mlsObjects.activityUri, id))))
    .limit(1);
  return row?.seq;
}

/** Page sizes of the mailbox reads: `limit` defaults to 20; above 100 it is clamped, below 1 refused. */
export const MAILBOX_DEFAULT_LIMIT = 20;
export const MAILBOX_MAX_LIMIT = 100;
